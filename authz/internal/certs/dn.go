package certs

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/idvauth/idvauth/authz/internal/web"
)

// DN is a distinguished name in RFC 4514 order (most specific RDN
// first), each attribute type by its short name where it has one.
type DN [][]atv

// atv is one attribute type and value.
type atv struct{ typ, val string }

// dnTypes maps the OIDs of the usual subject attributes to their RFC 4514
// (and RFC 4519) short names, the form both sides are compared in.
var dnTypes = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.5":                    "SERIALNUMBER",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.9":                    "STREET",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.17":                   "POSTALCODE",
	"0.9.2342.19200300.100.1.1":  "UID",
	"0.9.2342.19200300.100.1.25": "DC",
	"1.2.840.113549.1.9.1":       "EMAILADDRESS",
	"2.5.4.97":                   "ORGANIZATIONIDENTIFIER",
}

// dnAliases are other spellings of attribute types.
var dnAliases = map[string]string{"E": "EMAILADDRESS", "S": "ST"}

const maxDNAttrs = 64

// ParseDN parses an RFC 4514 string ("CN=backend,O=Example,C=DE").
// Attribute types are case-insensitive keywords or dotted OIDs; values
// may use the backslash escapes of section 2.4. Hex-encoded values
// ("#04...") are not supported: register the string form.
func ParseDN(s string) (DN, error) {
	if !utf8.ValidString(s) {
		return nil, errors.New("not valid UTF-8")
	}
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty")
	}
	var out DN
	var rdn []atv
	n := 0
	i := 0
	for {
		eq := strings.IndexByte(s[i:], '=')
		if eq < 0 {
			return nil, fmt.Errorf("attribute %d has no '='", n+1)
		}
		typ, err := dnType(strings.TrimSpace(s[i : i+eq]))
		if err != nil {
			return nil, err
		}
		i += eq + 1
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i < len(s) && s[i] == '#' {
			return nil, fmt.Errorf("the value of %s is hex-encoded: give the string form", typ)
		}
		var val []byte
		spaces := 0 // unescaped trailing spaces, dropped
	value:
		for ; i < len(s); i++ {
			c := s[i]
			switch c {
			case ',', '+':
				break value
			case '"', ';', '<', '>':
				return nil, fmt.Errorf("the value of %s holds an unescaped %q", typ, c)
			case '\\':
				if i+1 >= len(s) {
					return nil, fmt.Errorf("the value of %s ends in a lone backslash", typ)
				}
				if strings.IndexByte(`\"+,;<>=# `, s[i+1]) >= 0 {
					val = append(val, s[i+1])
					i++
				} else if b, err := hex.DecodeString(safeSlice(s, i+1, i+3)); err == nil && len(b) == 1 {
					val = append(val, b[0])
					i += 2
				} else {
					return nil, fmt.Errorf("the value of %s has a bad escape", typ)
				}
				spaces = 0
				continue
			case ' ':
				spaces++
			default:
				spaces = 0
			}
			val = append(val, c)
		}
		v := string(val[:len(val)-spaces])
		if v == "" {
			return nil, fmt.Errorf("the value of %s is empty", typ)
		}
		if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
			return nil, fmt.Errorf("the value of %s is not valid UTF-8", typ)
		}
		rdn = append(rdn, atv{typ, v})
		if n++; n > maxDNAttrs {
			return nil, fmt.Errorf("more than %d attributes", maxDNAttrs)
		}
		if i >= len(s) || s[i] == ',' {
			out = append(out, sortRDN(rdn))
			rdn = nil
		}
		if i >= len(s) {
			return out, nil
		}
		i++ // the ',' or '+'
	}
}

func safeSlice(s string, i, j int) string {
	if j > len(s) {
		return ""
	}
	return s[i:j]
}

func dnType(t string) (string, error) {
	if t == "" {
		return "", errors.New("an attribute type is empty")
	}
	if t[0] >= '0' && t[0] <= '9' {
		for _, part := range strings.Split(t, ".") {
			if part == "" || strings.Trim(part, "0123456789") != "" || (len(part) > 1 && part[0] == '0') {
				return "", fmt.Errorf("attribute type %q is not a keyword or dotted OID", web.Truncate(t, 40))
			}
		}
		if name, ok := dnTypes[t]; ok {
			return name, nil
		}
		return t, nil
	}
	for i, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && (r >= '0' && r <= '9' || r == '-')) {
			return "", fmt.Errorf("attribute type %q is not a keyword or dotted OID", web.Truncate(t, 40))
		}
	}
	t = strings.ToUpper(t)
	if a, ok := dnAliases[t]; ok {
		t = a
	}
	return t, nil
}

func sortRDN(r []atv) []atv {
	slices.SortFunc(r, func(a, b atv) int { return strings.Compare(a.typ+"="+a.val, b.typ+"="+b.val) })
	return r
}

// SubjectDN is the subject of a certificate as a DN, from its DER encoding
// so that the order is the certificate's own. Values that are not
// strings (rare in subjects) keep their DER in hex after a '#'.
func SubjectDN(rawSubject []byte) (DN, error) {
	var seq pkix.RDNSequence
	if rest, err := asn1.Unmarshal(rawSubject, &seq); err != nil || len(rest) > 0 {
		return nil, errors.New("cannot parse the certificate subject")
	}
	out := make(DN, 0, len(seq))
	for i := len(seq) - 1; i >= 0; i-- {
		var rdn []atv
		for _, a := range seq[i] {
			typ := a.Type.String()
			if name, ok := dnTypes[typ]; ok {
				typ = name
			}
			v, ok := a.Value.(string)
			if !ok {
				der, err := asn1.Marshal(a.Value)
				if err != nil {
					return nil, errors.New("cannot encode a certificate subject value")
				}
				v = "#" + hex.EncodeToString(der)
			}
			rdn = append(rdn, atv{typ, v})
		}
		out = append(out, sortRDN(rdn))
	}
	return out, nil
}

// Equal compares two names the way RFC 4517 distinguishedNameMatch does
// for the usual string attributes: same RDNs in the same order, types
// equal, values equal ignoring case and runs of spaces.
func (d DN) Equal(o DN) bool {
	if len(d) != len(o) {
		return false
	}
	for i := range d {
		if len(d[i]) != len(o[i]) {
			return false
		}
		a, b := slices.Clone(d[i]), slices.Clone(o[i])
		for j := range a {
			a[j].val, b[j].val = foldValue(a[j].val), foldValue(b[j].val)
		}
		sortRDN(a)
		sortRDN(b)
		if !slices.Equal(a, b) {
			return false
		}
	}
	return true
}

// foldValue folds ASCII case and ASCII space runs only: Unicode case
// folding would make look-alikes equal (the Kelvin sign K and k), which a
// CA letting subscribers choose their CN could be used for.
func foldValue(v string) string {
	var b strings.Builder
	space, started := false, false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			space = started
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
		started = true
	}
	return b.String()
}

// String is d in RFC 4514 form, escaping what must be escaped.
func (d DN) String() string {
	var b strings.Builder
	for i, rdn := range d {
		if i > 0 {
			b.WriteByte(',')
		}
		for j, a := range rdn {
			if j > 0 {
				b.WriteByte('+')
			}
			b.WriteString(a.typ)
			b.WriteByte('=')
			b.WriteString(escapeDNValue(a.val))
		}
	}
	return b.String()
}

func escapeDNValue(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case strings.IndexByte(`\"+,;<>`, c) >= 0,
			i == 0 && (c == '#' || c == ' '),
			i == len(v)-1 && c == ' ':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == 0:
			b.WriteString(`\00`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
