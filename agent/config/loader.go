package config

import (
	"errors"
	"flag"
	"os"
)

// Loader builds a Config from files, environment variables and flags. Create
// it with NewLoader before parsing the flag set, parse the command line,
// then call Load.
type Loader struct {
	fs    *flag.FlagSet
	dev   bool
	files stringsFlag
	dirs  stringsFlag
	flags map[string]loaderFlag // by flag name
}

// loaderFlag ties a registered flag to its option key.
type loaderFlag struct {
	key   string
	value stagedFlag
}

// NewLoader registers every option's flag on fs, plus -dev, -config-file
// and -config-dir, and returns the Loader that reads them.
func NewLoader(fs *flag.FlagSet) *Loader {
	l := &Loader{fs: fs, flags: make(map[string]loaderFlag, len(options))}
	def := Default()
	for i := range options {
		o := &options[i]
		if o.newFlag == nil {
			continue // file only
		}
		v := o.newFlag(&def)
		fs.Var(v, o.flag, o.help())
		l.flags[o.flag] = loaderFlag{key: o.key, value: v}
	}
	fs.BoolVar(&l.dev, "dev", false,
		"development mode: state in a temporary directory unless -data-dir is set, bind to 127.0.0.1 unless -bind is set")
	fs.Var(&l.files, "config-file",
		"read configuration from this YAML `file`; repeatable, applied in order")
	fs.Var(&l.dirs, "config-dir",
		"read every *.yaml and *.yml file in this `directory` in lexical order, after all -config-file files; repeatable")
	return l
}

// Load builds the Config. It starts from Default (DevDefault with -dev),
// applies the -config-file files in order, then the -config-dir files, then
// the environment variables env reports, then the flags set on the command
// line, and validates the result. A nil env reads the process environment.
//
// Problems in files and environment variables are all reported, joined; if
// there are any, validation is skipped. Every error is an *Error, except
// ErrNotParsed when fs has not been parsed yet.
func (l *Loader) Load(env func(string) (string, bool)) (Config, error) {
	if !l.fs.Parsed() {
		return Config{}, ErrNotParsed
	}
	if env == nil {
		env = os.LookupEnv
	}
	c := Default()
	if l.dev {
		c = DevDefault()
	}
	from := make(origins)
	errs := readSources(&c, from, l.files, l.dirs)
	errs = append(errs, applyEnv(&c, from, env)...)
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	l.fs.Visit(func(f *flag.Flag) {
		if lf, ok := l.flags[f.Name]; ok {
			lf.value.apply(&c)
			from[lf.key] = "flag -" + f.Name
		}
	})
	if err := validate(&c, from); err != nil {
		return Config{}, err
	}
	return c, nil
}

// LoadFiles builds a Config from the defaults and the given files and
// directories alone, in the order Load reads them, and validates it. It is
// what `edgeplane validate` runs; environment and flags play no part.
func LoadFiles(files, dirs []string) (Config, error) {
	c := Default()
	from := make(origins)
	if errs := readSources(&c, from, files, dirs); len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	if err := validate(&c, from); err != nil {
		return Config{}, err
	}
	return c, nil
}

// applyEnv sets every option whose environment variable env reports. A
// variable set to the empty string counts as set: it empties a string or a
// list, and is an error for a number, boolean or duration.
func applyEnv(c *Config, from origins, env func(string) (string, bool)) []error {
	var errs []error
	for i := range options {
		o := &options[i]
		if o.fromEnv == nil {
			continue // file only
		}
		s, ok := env(o.env)
		if !ok {
			continue
		}
		source := "env " + o.env
		if err := o.fromEnv(c, s); err != nil {
			errs = append(errs, &Error{Source: source, Key: o.key, Err: err})
			continue
		}
		from[o.key] = source
	}
	return errs
}
