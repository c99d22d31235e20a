package mfa

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Authentication methods (RFC 8176) a browser session records.
const (
	AMRPassword = "pwd"
	AMROTP      = "otp"
	AMRMFA      = "mfa"
	// AMRHardwareKey and AMRSoftwareKey are a passkey: one bound to its
	// device, or one synced between devices.
	AMRHardwareKey = "hwk"
	AMRSoftwareKey = "swk"
)

// Authentication context classes (acr) of idvauth, weakest first.
const (
	ACRPassword = "urn:idvauth:acr:pwd"
	ACRMFA      = "urn:idvauth:acr:mfa"
	// ACRPhishingResistant is a sign-in with a passkey (alone, or after
	// a password): bound to this origin, so a look-alike site cannot
	// relay it.
	ACRPhishingResistant = "urn:idvauth:acr:phr"
)

// Level is how strong a sign-in is: None < Password < MFA <
// PhishingResistant.
type Level int

// Levels.
const (
	None Level = iota
	Password
	MFA
	PhishingResistant
)

// Supported are the acr values this server can satisfy, for discovery's
// acr_values_supported and for checking clients' default_acr_values.
func Supported() []string { return []string{ACRPassword, ACRMFA, ACRPhishingResistant} }

// ValidACR reports whether v is an acr value a client may register.
func ValidACR(v string) bool { return slices.Contains(Supported(), v) }

// LevelOf is the level of a sign-in with the methods amr; a session made
// before methods were kept (none) counts as a password.
func LevelOf(amr []string) Level {
	if slices.Contains(amr, AMRMFA) && (slices.Contains(amr, AMRHardwareKey) || slices.Contains(amr, AMRSoftwareKey)) {
		return PhishingResistant
	}
	if slices.Contains(amr, AMRMFA) {
		return MFA
	}
	return Password
}

// ACR is the acr claim of a sign-in with the methods amr.
func ACR(amr []string) string {
	switch LevelOf(amr) {
	case PhishingResistant:
		return ACRPhishingResistant
	case MFA:
		return ACRMFA
	}
	return ACRPassword
}

// AMR is the amr claim of a session that recorded amr (pwd if none).
func AMR(amr []string) []string {
	if len(amr) == 0 {
		return []string{AMRPassword}
	}
	return slices.Clone(amr)
}

// Required is the level that acceptable, a list of acr values any one of
// which will do (acr_values, or the claims parameter's values), asks for:
// the weakest known one. Unknown values are ignored; phr asks for a
// passkey. None if no value is known.
func Required(acceptable []string) Level {
	req := None
	for _, v := range acceptable {
		var l Level
		switch v {
		case ACRPassword:
			l = Password
		case ACRMFA:
			l = MFA
		case ACRPhishingResistant:
			l = PhishingResistant
		default:
			continue
		}
		if req == None || l < req {
			req = l
		}
	}
	return req
}

// claimsRequest is the part of the OpenID Connect claims parameter idvauth
// reads: the acr of the ID token.
type claimsRequest struct {
	IDToken struct {
		ACR *struct {
			Essential bool     `json:"essential"`
			Value     string   `json:"value"`
			Values    []string `json:"values"`
		} `json:"acr"`
	} `json:"id_token"`
}

// MaxRequestedACR bounds the acr values one request may ask for.
const MaxRequestedACR = 16

// RequestedACR returns the acr values form asks for: acr_values, and the
// claims parameter's id_token acr value or values. An error, which says
// what is wrong for the client's developer, for a claims parameter that
// is not JSON or too many values.
func RequestedACR(form url.Values) ([]string, error) {
	acrs := strings.Fields(form.Get("acr_values"))
	if raw := form.Get("claims"); raw != "" {
		var cr claimsRequest
		if err := json.Unmarshal([]byte(raw), &cr); err != nil {
			return nil, errors.New("the claims parameter is not a JSON object")
		}
		if a := cr.IDToken.ACR; a != nil {
			if a.Value != "" {
				acrs = append(acrs, a.Value)
			}
			acrs = append(acrs, a.Values...)
		}
	}
	if len(acrs) > MaxRequestedACR {
		return nil, fmt.Errorf("at most %d acr values may be requested", MaxRequestedACR)
	}
	return acrs, nil
}
