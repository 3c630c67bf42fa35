package config

import "reflect"

// Changed returns the keys, in option-table order, whose values differ
// between a and b. A reload uses it to tell what a new configuration would
// change. An empty list or map equals an absent one. Dev, a flag only, is
// not compared.
func Changed(a, b Config) []string {
	var keys []string
	for i := range options {
		o := &options[i]
		if !sameValue(o.field(&a), o.field(&b)) {
			keys = append(keys, o.key)
		}
	}
	return keys
}

// sameValue compares two pointers to option fields.
func sameValue(a, b any) bool {
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	switch va.Kind() {
	case reflect.Slice, reflect.Map:
		if va.Len() == 0 && vb.Len() == 0 {
			return true
		}
	}
	return reflect.DeepEqual(va.Interface(), vb.Interface())
}
