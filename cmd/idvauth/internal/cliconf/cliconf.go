// Package cliconf resolves the settings of the idvauth command: each from
// its flag, its environment variable, the YAML config file or its default,
// in that order, with error messages that name where a bad value came from.
package cliconf

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/idvauth/idvauth/authz/container"
	"github.com/idvauth/idvauth/authz/settings"
)

// Setting is one string-valued setting with its flag and env names, its
// default and its help. Its config file key is its env name without
// IDVAUTH_, in lower case (FileKey).
type Setting struct {
	Flag  string // "" if there is no flag
	Env   string
	Def   string
	Usage string
}

// FileKey is the config file key of s.
func (s Setting) FileKey() string { return strings.ToLower(strings.TrimPrefix(s.Env, "IDVAUTH_")) }

// Lookup reads an environment variable (os.LookupEnv, or a test's map).
type Lookup func(string) (string, bool)

// Schema is what a config file may hold and where secrets may come from.
type Schema struct {
	Settings []Setting
	// Lists take a YAML list in the config file; their value is the
	// items joined with commas.
	Lists []Setting
	// Files may also be read from the file that their env name with _FILE
	// names (container secrets).
	Files []string
	// Other are config file keys read by Decode rather than as settings.
	Other []string
}

// Keys lists every key a config file may hold.
func (sc Schema) Keys() []string {
	keys := slices.Clone(sc.Other)
	for _, s := range sc.Settings {
		keys = append(keys, s.FileKey())
	}
	return keys
}

// IsList reports whether s takes a YAML list in the config file.
func (sc Schema) IsList(s Setting) bool {
	return slices.ContainsFunc(sc.Lists, func(l Setting) bool { return l.Env == s.Env })
}

// Resolver resolves settings in the order flag, env, file, default.
type Resolver struct {
	cmd    *cobra.Command
	env    Lookup
	schema Schema
	path   string                // the config file, "" if none
	nodes  map[string]*yaml.Node // value of each top-level key of the file
	line   map[string]int        // line of each top-level key of the file
}

// NewResolver reads the config file that --config or IDVAUTH_CONFIG names,
// if any, and refuses a key the schema does not know.
func NewResolver(cmd *cobra.Command, env Lookup, schema Schema) (*Resolver, error) {
	env, err := container.SecretFiles(env, schema.Files)
	if err != nil {
		return nil, err
	}
	r := &Resolver{cmd: cmd, env: env, schema: schema, nodes: map[string]*yaml.Node{}, line: map[string]int{}}
	path, _ := cmd.Flags().GetString("config")
	if path == "" {
		path, _ = env("IDVAUTH_CONFIG")
	}
	if path == "" {
		return r, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config file: %w", err)
	}
	r.path = path
	if err := r.readFile(b); err != nil {
		return nil, err
	}
	return r, nil
}

// readFile reads the YAML config file b, noting the value and line of each
// key, and refuses an unknown key with the nearest known one, a duplicate
// key, and a setting given a mapping or a list it does not take.
func (r *Resolver) readFile(b []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("config file %s: %w", r.path, err)
	}
	if len(doc.Content) == 0 {
		return nil // empty file
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return fmt.Errorf("config file %s:%d: want a mapping of keys to values", r.path, top.Line)
	}
	known := r.schema.Keys()
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		if !slices.Contains(known, k.Value) {
			msg := fmt.Sprintf("%s:%d: unknown key %q", r.path, k.Line, k.Value)
			if near := settings.Nearest(k.Value, known); near != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", near)
			}
			return errors.New(msg)
		}
		if _, dup := r.nodes[k.Value]; dup {
			return fmt.Errorf("%s:%d: %s is set twice", r.path, k.Line, k.Value)
		}
		r.nodes[k.Value], r.line[k.Value] = v, k.Line
	}
	for _, s := range r.schema.Settings {
		if _, err := r.fileValue(s); err != nil {
			return err
		}
	}
	return nil
}

// fileValue is s's value in the config file ("" if absent or null).
func (r *Resolver) fileValue(s Setting) (string, error) {
	n := r.nodes[s.FileKey()]
	if n == nil {
		return "", nil
	}
	bad := func(want string) error {
		return fmt.Errorf("config file %s:%d: %s: want %s", r.path, n.Line, s.FileKey(), want)
	}
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		return "", nil
	case n.Kind == yaml.ScalarNode && !r.schema.IsList(s):
		return n.Value, nil
	case n.Kind == yaml.SequenceNode && r.schema.IsList(s):
		items := make([]string, 0, len(n.Content))
		for _, it := range n.Content {
			if it.Kind != yaml.ScalarNode {
				return "", bad("a list of values")
			}
			items = append(items, it.Value)
		}
		return strings.Join(items, ","), nil
	case r.schema.IsList(s):
		return "", bad("a list of values")
	default:
		return "", bad("a single value")
	}
}

// Decode decodes the config file's value of key (one of Schema.Other)
// into v, refusing fields v does not have; it leaves v as it is when the
// file does not set key.
func (r *Resolver) Decode(key string, v any) error {
	n := r.nodes[key]
	if n == nil {
		return nil
	}
	b, err := yaml.Marshal(n)
	if err == nil {
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		err = dec.Decode(v)
	}
	if err != nil {
		return fmt.Errorf("%s:%d: %s: %w", r.path, r.line[key], key, err)
	}
	return nil
}

// Where names the source of s's value for an error message: the flag, the
// env variable, or the config file's line; the env name for a default.
func (r *Resolver) Where(s Setting) string {
	if s.Flag != "" {
		if f := r.cmd.Flags().Lookup(s.Flag); f != nil && f.Changed {
			return "--" + s.Flag
		}
	}
	if v, ok := r.env(s.Env); ok && v != "" {
		return s.Env
	}
	if v, _ := r.fileValue(s); v != "" {
		return fmt.Sprintf("%s:%d: %s", r.path, r.line[s.FileKey()], s.FileKey())
	}
	return s.Env + " (default)"
}

// Source names where s's value came from, for 'config check': flag, env,
// file (with its line) or default.
func (r *Resolver) Source(s Setting) string {
	switch w := r.Where(s); {
	case strings.HasPrefix(w, "--"):
		return "flag " + w
	case w == s.Env:
		return "env " + w
	case strings.HasSuffix(w, " (default)"):
		return "default"
	default:
		return "file " + strings.TrimSuffix(w, ": "+s.FileKey())
	}
}

// Get returns the setting's value and whether it was set anywhere (flag,
// env or file) rather than defaulted.
func (r *Resolver) Get(s Setting) (string, bool) {
	if s.Flag != "" {
		if f := r.cmd.Flags().Lookup(s.Flag); f != nil && f.Changed {
			return f.Value.String(), true
		}
	}
	if v, ok := r.env(s.Env); ok && v != "" {
		return v, true
	}
	if v, _ := r.fileValue(s); v != "" {
		return v, true
	}
	return s.Def, false
}

// Value is the setting's value, set or defaulted.
func (r *Resolver) Value(s Setting) string {
	v, _ := r.Get(s)
	return v
}

// Uint parses a non-negative integer setting of at most bits bits.
func (r *Resolver) Uint(s Setting, bits int) (uint64, error) {
	v := r.Value(s)
	n, err := strconv.ParseUint(v, 10, bits)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a whole number from 0 to %d", r.Where(s), v, uint64(1)<<bits-1)
	}
	return n, nil
}

// Prefixes parses a comma-separated list of IP addresses and CIDR ranges.
func (r *Resolver) Prefixes(s Setting) ([]netip.Prefix, error) {
	v := r.Value(s)
	out, bad := settings.ParsePrefixes(v)
	if bad != "" {
		return nil, fmt.Errorf("%s: %q is neither an IP address nor a CIDR range (examples: 10.0.0.7, 10.0.0.0/8, fd00::/8)", r.Where(s), bad)
	}
	return out, nil
}

// Rate parses a rate limit in requests per second (see settings.ParseRate).
func (r *Resolver) Rate(s Setting) (float64, error) {
	v := r.Value(s)
	f, ok := settings.ParseRate(v)
	if !ok {
		return 0, fmt.Errorf("%s: %q is not a rate in requests per second (examples: 50, 0.5, off)", r.Where(s), v)
	}
	return f, nil
}

// OnOff parses an on/off setting (true and false are taken too).
func (r *Resolver) OnOff(s Setting) (bool, error) {
	v := r.Value(s)
	on, ok := settings.ParseOnOff(v)
	if !ok {
		return false, fmt.Errorf("%s: %q is neither on nor off (example: %s=off)", r.Where(s), v, s.Env)
	}
	return on, nil
}

// Duration parses a Go duration setting.
func (r *Resolver) Duration(s Setting) (time.Duration, error) {
	v := r.Value(s)
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a duration (examples: 5m, 90s, 1h)", r.Where(s), v)
	}
	return d, nil
}

// AddFlag registers the setting's flag on cmd, if it has one.
func AddFlag(cmd *cobra.Command, s Setting) {
	if s.Flag != "" {
		v := &flagValue{v: s.Def, typ: settings.FlagKind(s.Flag, s.Def)}
		cmd.Flags().Var(v, s.Flag, s.Usage+" (env "+s.Env+")")
		cmd.Flags().Lookup(s.Flag).DefValue = s.Def
	}
}

// flagValue is the flag of a setting: a string parsed later (with the env
// variable and the file), whose help names its kind, not "string".
type flagValue struct{ v, typ string }

func (f *flagValue) String() string     { return f.v }
func (f *flagValue) Set(v string) error { f.v = v; return nil }
func (f *flagValue) Type() string       { return f.typ }
