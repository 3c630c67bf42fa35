package render

const crashChildEnv = "EDGEPLANE_RENDER_CRASH_CHILD"

func crashChild(dir string) {}
