package scopes

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestNewRejectsBadExtraScopes(t *testing.T) {
	tests := []struct {
		name  string
		extra []Scope
	}{
		{"duplicate of builtin", []Scope{{Name: Verify, Description: "again"}}},
		{"repeated", []Scope{{Name: "a.b", Description: "x"}, {Name: "a.b", Description: "y"}}},
		{"no description", []Scope{{Name: "a.b"}}},
		{"space in name", []Scope{{Name: "a b", Description: "x"}}},
		{"quote in name", []Scope{{Name: `a"b`, Description: "x"}}},
		{"backslash in name", []Scope{{Name: `a\b`, Description: "x"}}},
		{"non-ascii", []Scope{{Name: "café", Description: "x"}}},
		{"too long", []Scope{{Name: strings.Repeat("a", MaxLen+1), Description: "x"}}},
		{"empty", []Scope{{Name: "", Description: "x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.extra); err == nil {
				t.Fatalf("New(%q) = nil error, want an error", tt.extra)
			}
		})
	}
}

func TestParse(t *testing.T) {
	r, err := New([]Scope{{Name: "billing.read", Description: "Read invoices."}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in      string
		want    []string
		wantErr error
	}{
		{"", []string{}, nil},
		{"   ", []string{}, nil},
		{"identity.verify", []string{Verify}, nil},
		{"identity.read_status identity.verify", []string{ReadStatus, Verify}, nil},
		{"identity.verify  identity.verify", []string{Verify}, nil},
		{"billing.read", []string{"billing.read"}, nil},
		{"identity.verify admin", nil, ErrUnknown},
		{"identity.verify\tidentity.read_status", nil, ErrInvalid},
		{"identity\x00verify", nil, ErrInvalid},
	}
	for _, tt := range tests {
		got, err := r.Parse(tt.in)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Parse(%q) error = %v, want %v", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q) = %q, %v, want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestAllowed(t *testing.T) {
	r, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	registered := []string{Verify, "removed.scope"}
	tests := []struct {
		scope string
		want  bool
	}{
		{Verify, true},
		{ReadStatus, false},      // known, not registered for the client
		{"removed.scope", false}, // registered for the client, no longer known
		{"identity", false},      // no prefix or hierarchy matching
		{"identity.verify.extra", false},
	}
	for _, tt := range tests {
		if got := r.Allowed(registered, tt.scope); got != tt.want {
			t.Errorf("Allowed(%q, %q) = %v, want %v", registered, tt.scope, got, tt.want)
		}
	}
}

func TestBuiltinDescriptions(t *testing.T) {
	r, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{Email, ReadStatus, Verify, OfflineAccess, OpenID, Profile}
	if got := r.Names(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Names() = %q, want %q", got, want)
	}
	for _, n := range r.Names() {
		s, _ := r.Get(n)
		if s.Description == "" {
			t.Errorf("scope %q has no description", n)
		}
	}
}

func FuzzParse(f *testing.F) {
	r, err := New(nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("identity.verify identity.read_status")
	f.Add("")
	f.Add("\x00 \xff")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := r.Parse(s)
		if err != nil {
			return
		}
		for _, g := range got {
			if !r.Known(g) {
				t.Fatalf("Parse(%q) returned unknown scope %q", s, g)
			}
		}
	})
}
