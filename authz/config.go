package authz

import "github.com/idvauth/idvauth/authz/settings"

// Config configures a Server; see settings.Config.
type Config = settings.Config

// RateLimits are the token-bucket limits; see settings.RateLimits.
type RateLimits = settings.RateLimits
