// Package storage defines the records idvauth keeps and the store
// interfaces that the authorization server consumes. Backends
// (storage/memory, storage/postgres) implement them; every backend must
// pass the contract suite in storage/storagetest.
//
// Records are plain values: a backend copies what it is given and returns
// copies, so callers may keep and modify what they get. Errors are wrapped
// sentinels; test them with errors.Is.
package storage

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors every backend returns (wrapped) for these conditions.
var (
	// ErrNotFound: the record does not exist (or, for a token, its client
	// no longer exists).
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a record with the same key exists.
	ErrAlreadyExists = errors.New("already exists")
	// ErrConflict: the change lost a race or breaks a rule of the store.
	ErrConflict = errors.New("conflict")
)

// Client is a registered OAuth 2.0 client. Field names follow RFC 7591
// where one exists.
type Client struct {
	ID   string
	Name string
	// SecretHash is the SHA-256 digest of the client secret; empty for a
	// client without a secret.
	SecretHash []byte
	GrantTypes []string
	// ResponseTypes and RedirectURIs are kept for the authorization-code
	// flow.
	ResponseTypes []string
	RedirectURIs  []string
	Scopes        []string
	Audience      []string
	// TokenEndpointAuthMethod is the RFC 7591 client authentication method.
	TokenEndpointAuthMethod string
	// AccessTokenTTL overrides the server's access token lifetime when
	// non-zero.
	AccessTokenTTL time.Duration
	// IntrospectionAllowed lets the client call the introspection endpoint.
	IntrospectionAllowed bool
	// IntrospectionAudiences are the audiences of the tokens the client
	// may see active when it introspects: a token's aud must include one.
	// Empty means the client's Audience, or without one the server's
	// default audience.
	IntrospectionAudiences []string
	// IDTokenSignedResponseAlg is the JWS algorithm of the client's ID
	// tokens (OpenID Connect Dynamic Client Registration); empty means the
	// server's default.
	IDTokenSignedResponseAlg string
	// JWKS is the client's registered JSON Web Key Set (RFC 7591 jwks),
	// public keys only, as JSON; nil if none. JWKSURI is where the client
	// publishes it instead (RFC 7591 jwks_uri); empty if none.
	JWKS    []byte
	JWKSURI string
	// TLSClientAuth names the certificate subject a tls_client_auth client
	// must present (RFC 8705 section 2.1.2): at most one field is set.
	TLSClientAuth TLSClientAuth
	// CertificateBoundAccessTokens binds every access token of the client
	// to its TLS client certificate (RFC 8705
	// tls_client_certificate_bound_access_tokens).
	CertificateBoundAccessTokens bool
	// TokenEndpointAudienceAllowed lets the client's assertions
	// (private_key_jwt) name the token endpoint URL as aud, as RFC 7523
	// did, besides the issuer identifier; false: only the issuer
	// (draft-ietf-oauth-rfc7523bis). A compatibility switch for clients
	// that cannot be changed yet.
	TokenEndpointAudienceAllowed bool
	// DefaultACRValues are the authentication context classes asked for
	// when a request names none (OpenID Connect Registration
	// default_acr_values), in order of preference.
	DefaultACRValues []string
	// RequireMFA makes every sign-in for the client use a second factor,
	// whatever the request asks.
	RequireMFA bool
	CreatedAt  time.Time
	UpdatedAt  time.Time

	// PKCEOptional lets a confidential client use the authorization-code
	// grant without PKCE (require_pkce false); every other client must
	// send an S256 code_challenge.
	PKCEOptional bool
	// RequirePushedAuthorizationRequests makes the client start every
	// authorization request at the RFC 9126 pushed authorization request
	// endpoint (RFC 9126 section 6).
	RequirePushedAuthorizationRequests bool

	// PostLogoutRedirectURIs are where the client may send a person back
	// after RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0),
	// matched exactly.
	PostLogoutRedirectURIs []string
	// BackchannelLogoutURI is where a logout token is POSTed when a person
	// who used the client signs out (OpenID Connect Back-Channel Logout
	// 1.0); empty: none. BackchannelLogoutSessionRequired: the client
	// needs the sid claim in it.
	BackchannelLogoutURI             string
	BackchannelLogoutSessionRequired bool
	// DPoPBoundAccessTokens makes the client send a DPoP proof with every
	// token request (RFC 9449 section 5.2): all its access tokens are
	// bound to a key it holds.
	DPoPBoundAccessTokens bool
	// Profile is the security profile the client is held to: "fapi2"
	// (the FAPI 2.0 Security Profile), or "" for none.
	Profile string
}

// TLSClientAuth is the RFC 8705 section 2.1.2 subject of a client
// certificate: the subject DN, or one subjectAltName entry.
type TLSClientAuth struct {
	SubjectDN string
	SANDNS    string
	SANURI    string
	SANIP     string
	SANEmail  string
}

// TokenKind says what a stored token record is.
type TokenKind string

// Token kinds.
const (
	AccessToken  TokenKind = "access_token"
	RefreshToken TokenKind = "refresh_token"
	// AuthorizeCode is an authorization code, redeemed once.
	AuthorizeCode TokenKind = "authorize_code"
	// PKCE holds a code's RFC 7636 challenge, keyed like the code.
	PKCE TokenKind = "pkce"
	// OpenIDConnect holds what an ID token issued for a code needs.
	OpenIDConnect TokenKind = "openid_connect"
	// PushedRequest is an RFC 9126 pushed authorization request.
	PushedRequest TokenKind = "pushed_request"
)

// Token is the server-side record of an issued token. It is keyed by the
// token's signature (the JWS signature of a JWT, the HMAC part of an
// opaque token), never by the token itself.
type Token struct {
	Kind      TokenKind
	Signature string
	// RequestID groups every token issued from one grant; revocation
	// works on it.
	RequestID string
	ClientID  string
	// Subject is the opaque subject the token was issued for.
	Subject  string
	Scopes   []string
	Audience []string
	// KeyID is the kid of the key that signed the token, if any.
	KeyID string
	// JTI is the token's unique identifier, if any.
	JTI       string
	IssuedAt  time.Time
	ExpiresAt time.Time
	// Session is what the server needs to resume the grant (a code's
	// redirect URI and PKCE challenge, a nonce, the time of login),
	// opaque to the store. It holds no personal data the grant does not
	// need: people appear by opaque subject only.
	Session []byte
	// ConsumedAt is when the record was used up (a code redeemed, a
	// refresh token rotated); zero while it is usable.
	ConsumedAt time.Time
}

// Key lifecycle states. A key is published in the JWKS while next, active
// or retired; it signs only while active.
const (
	KeyNext    = "next"    // published, not yet signing
	KeyActive  = "active"  // signing
	KeyRetired = "retired" // published, verify-only
	KeyRemoved = "removed" // no longer published; kept for the record
)

// KeyChange moves one key from one lifecycle state to another.
type KeyChange struct {
	ID       string
	From, To string
}

// Key is a signing key as kept at rest: the private part sealed by the keys
// package, the public part as a JWK.
type Key struct {
	ID  string
	Alg string
	// State is the lifecycle state named by the keys package.
	State string
	// Sealed is the encrypted private key.
	Sealed []byte
	// PublicJWK is the JSON Web Key of the public part.
	PublicJWK   []byte
	CreatedAt   time.Time
	ActivatedAt time.Time
	RetiredAt   time.Time
}

// User is a person who signs in through the login page. People appear
// everywhere else (tokens, consents, sessions, logs) by ID only.
type User struct {
	// ID is the opaque, server-generated identifier: the sub claim.
	ID string
	// Username is what the person types to sign in; unique.
	Username string
	Name     string
	Email    string
	// PasswordHash is the PHC-formatted argon2id hash of the password.
	PasswordHash string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	// Sealed, when not nil, is the profile as the store keeps it sealed
	// (see Profile); Username, Name and Email are then empty in what the
	// store is given and returns. Nil: a row kept in plain text, as before
	// sealing (PersonStore.SealUser seals it).
	Sealed *Profile
}

// Consent is what a person allowed one client: the union of the scopes
// granted to it so far.
type Consent struct {
	UserID    string
	ClientID  string
	Scopes    []string
	GrantedAt time.Time
}

// Withdrawal is what UserStore.DeleteConsents removed.
type Withdrawal struct {
	// Consents is how many consents were withdrawn.
	Consents int
	// Tokens is how many usable access tokens, refresh tokens and
	// authorization codes were revoked (records already consumed, and the
	// records that only accompany a code, are removed but not counted).
	Tokens int
}

// BrowserSession is the server-side record of a signed-in browser. The
// cookie holds a random value; the store keeps only its digest (ID).
type BrowserSession struct {
	// ID is the digest of the cookie value.
	ID     string
	UserID string
	// AuthTime is when the person last authenticated: their password,
	// or a second factor after it.
	AuthTime  time.Time
	ExpiresAt time.Time
	// AMR are the RFC 8176 methods the session was authenticated with
	// ("pwd", "otp", "mfa", ...); empty for a session made before they
	// were kept, which counts as "pwd".
	AMR []string
	// Device is a coarse summary of the browser ("Chrome on Linux"), never
	// its raw User-Agent; empty if unknown.
	Device string
}

// FactorKind names a kind of second factor.
type FactorKind string

// Factor kinds. Passkeys (WebAuthn credentials) are kept apart, as
// Passkey records.
const (
	// FactorTOTP is an RFC 6238 authenticator app: Secret is the
	// shared secret, Counter the last time step a code was accepted for.
	FactorTOTP FactorKind = "totp"
)

// Factor is one second factor of a person. Recovery codes are kept apart
// (RecoveryCode), since a person has a set of them.
type Factor struct {
	// ID is a server-made identifier, unique across people.
	ID     string
	UserID string
	Kind   FactorKind
	// Name is what the person calls it ("phone"); may be empty.
	Name string
	// Secret is the factor's secret as its kind keeps it: for TOTP the
	// shared secret, sealed above the store under the person's data key
	// (authz/seal; never in the clear at rest; before sealing, rows hold
	// it sealed under IDVAUTH_SECRETS directly).
	Secret []byte
	// Counter only goes up (AdvanceFactor): TOTP's last accepted time
	// step, a passkey's signature counter.
	Counter    int64
	CreatedAt  time.Time
	LastUsedAt time.Time
}

// FactorStore keeps people's second factors and recovery codes. Deleting
// a person (UserStore.DeleteUser) deletes them in the same step.
type FactorStore interface {
	// CreateFactor stores a new factor; ErrNotFound if the user does not
	// exist, ErrAlreadyExists if the ID is taken or the user already has
	// a factor of a kind that is one per person (TOTP).
	CreateFactor(ctx context.Context, f Factor) error
	// ListFactors returns the user's factors ordered by CreatedAt, then
	// ID; empty if none (or no such user).
	ListFactors(ctx context.Context, userID string) ([]Factor, error)
	// AdvanceFactor sets the user's factor id's Counter to counter and
	// LastUsedAt to now, only if counter is greater than the Counter it
	// holds, in one atomic step on every replica: of concurrent calls
	// with one counter exactly one succeeds. ErrConflict if the counter
	// is not greater (a TOTP code replayed), ErrNotFound if there is no
	// such factor of that user.
	AdvanceFactor(ctx context.Context, userID, id string, counter int64, now time.Time) error
	// DeleteFactors removes every factor, passkey and recovery code of
	// the user and returns how many factors and passkeys it removed
	// (recovery codes not counted); no error if there were none.
	DeleteFactors(ctx context.Context, userID string) (int, error)
	// SetRecoveryCodes replaces the user's recovery codes with the codes
	// whose digests are given (SHA-256 of high-entropy codes; never the
	// codes); ErrNotFound if the user does not exist.
	SetRecoveryCodes(ctx context.Context, userID string, digests [][]byte, now time.Time) error
	// UseRecoveryCode marks the user's unused recovery code with digest
	// used at now, in one atomic step: of concurrent calls exactly one
	// succeeds. ErrNotFound if the user has no such unused code.
	UseRecoveryCode(ctx context.Context, userID string, digest []byte, now time.Time) error
	// RecoveryCodesLeft returns how many unused recovery codes the user
	// has.
	RecoveryCodesLeft(ctx context.Context, userID string) (int, error)
}

// Passkey is one WebAuthn credential of a person (a passkey): a factor
// on its own, and a first factor since it is discoverable. It holds no
// name, email or username of the person: UserHandle is a random value
// the server chose, the same for all of a person's passkeys.
type Passkey struct {
	// ID is a server-made identifier, unique across people.
	ID     string
	UserID string
	// CredentialID is the authenticator's credential ID (at most 1023
	// bytes), unique across people.
	CredentialID []byte
	// UserHandle is the WebAuthn user.id the passkey was made with (at
	// most 64 random bytes).
	UserHandle []byte
	// Name is what the person calls it ("laptop"); may be empty.
	Name string
	// Credential is the credential record as the WebAuthn library keeps
	// it (public key, flags, transports); opaque to the store. Its sign
	// counter is SignCount, not the one inside.
	Credential []byte
	// SignCount is the authenticator's signature counter at the last use
	// (UsePasskey); 0 for authenticators without one.
	SignCount  int64
	CreatedAt  time.Time
	LastUsedAt time.Time
}

// PasskeyStore keeps people's passkeys. Deleting a person deletes them in
// the same step, as does FactorStore.DeleteFactors.
type PasskeyStore interface {
	// CreatePasskey stores a new passkey; ErrNotFound if the user does not
	// exist, ErrAlreadyExists if its ID or its CredentialID is taken.
	CreatePasskey(ctx context.Context, p Passkey) error
	// ListPasskeys returns the user's passkeys ordered by CreatedAt, then
	// ID; empty if none (or no such user).
	ListPasskeys(ctx context.Context, userID string) ([]Passkey, error)
	// GetPasskey returns the passkey with the credential ID; ErrNotFound
	// if none.
	GetPasskey(ctx context.Context, credentialID []byte) (Passkey, error)
	// UsePasskey records a use of the user's passkey id with the
	// authenticator's counter signCount at now, in one atomic step on
	// every replica: it sets SignCount and LastUsedAt only if signCount is
	// greater than the SignCount held, or both are 0 (an authenticator
	// without a counter). ErrConflict otherwise (a counter that did not
	// go forward: a cloned authenticator, or a replay), ErrNotFound if
	// there is no such passkey of that user.
	UsePasskey(ctx context.Context, userID, id string, signCount int64, now time.Time) error
	// RenamePasskey sets the name of the user's passkey id; ErrNotFound if
	// there is no such passkey of that user.
	RenamePasskey(ctx context.Context, userID, id, name string) error
	// DeletePasskey removes the user's passkey id; ErrNotFound if there is
	// no such passkey of that user.
	DeletePasskey(ctx context.Context, userID, id string) error
}

// ClientStore keeps registered clients.
type ClientStore interface {
	// CreateClient stores a new client; ErrAlreadyExists if the ID is taken.
	CreateClient(ctx context.Context, c Client) error
	// GetClient returns the client or ErrNotFound.
	GetClient(ctx context.Context, id string) (Client, error)
	// ListClients returns every client ordered by ID.
	ListClients(ctx context.Context) ([]Client, error)
	// UpdateClient replaces a client's metadata (everything but ID,
	// SecretHash and CreatedAt); ErrNotFound if it does not exist.
	UpdateClient(ctx context.Context, c Client) error
	// SetClientSecret replaces a client's secret digest; ErrNotFound if
	// the client does not exist.
	SetClientSecret(ctx context.Context, id string, hash []byte, now time.Time) error
	// DeleteClient removes a client and, in the same step, every token
	// issued to it; ErrNotFound if it does not exist.
	DeleteClient(ctx context.Context, id string) error
}

// TokenStore keeps records of issued tokens.
type TokenStore interface {
	// CreateToken stores a token record. It is ErrNotFound if the client
	// does not exist (so no token outlives a deleted client) and
	// ErrAlreadyExists if the signature is taken.
	CreateToken(ctx context.Context, t Token) error
	// GetToken returns the record of kind with signature, expired or not;
	// ErrNotFound if there is none.
	GetToken(ctx context.Context, kind TokenKind, signature string) (Token, error)
	// DeleteToken removes one record; ErrNotFound if there is none.
	DeleteToken(ctx context.Context, kind TokenKind, signature string) error
	// ConsumeToken marks the record of kind with signature used at now and
	// returns it. Of any number of concurrent calls for one record exactly
	// one succeeds; the others, and every later call, get the record with
	// ErrConflict, so that the caller can revoke what the first use
	// issued. ErrNotFound if there is none.
	ConsumeToken(ctx context.Context, kind TokenKind, signature string, now time.Time) (Token, error)
	// RevokeRequest removes every record of kind issued from requestID.
	// Removing nothing is not an error.
	RevokeRequest(ctx context.Context, kind TokenKind, requestID string) error
	// ListTokensBySubject returns every record, of any kind, expired or
	// not, whose Subject is subject, ordered by IssuedAt (for a person's
	// data export).
	ListTokensBySubject(ctx context.Context, subject string) ([]Token, error)
	// DeleteExpired removes at most limit token records, and at most
	// limit browser sessions, failure windows, used assertions, API keys
	// and operators' console sessions, that
	// expired before before, and returns how many it removed. A browser
	// session with grants is left for LogoutStore.ExpireBrowserSession,
	// which tells its clients first.
	DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error)
}

// KeyStore keeps signing keys. At most one key per algorithm is next and
// one is active: a CreateKey or UpdateKeys that would make a second is
// ErrAlreadyExists. This is what lets several replicas try the same
// rotation step at once, and exactly one of them make it.
type KeyStore interface {
	// CreateKey stores a new key; ErrAlreadyExists if the ID is taken or
	// the key would be a second next or active key of its algorithm.
	CreateKey(ctx context.Context, k Key) error
	// UpdateKeys applies changes in order, all or none. A change applies
	// only to a key in state From: otherwise the result is ErrConflict
	// (ErrNotFound if there is no such key) and nothing changes. Moving to
	// active sets ActivatedAt to at; moving to retired, or to removed
	// before retiring, sets RetiredAt to at.
	UpdateKeys(ctx context.Context, at time.Time, changes ...KeyChange) error
	// SetKeySealed replaces the sealed private part of a key (when it is
	// re-encrypted under a new secret); ErrNotFound if there is no key.
	SetKeySealed(ctx context.Context, id string, sealed []byte) error
	// ListKeys returns every key ordered by creation time, oldest first.
	ListKeys(ctx context.Context) ([]Key, error)
}

// UserStore keeps people, what they consented to and their browser
// sessions. Deleting a user deletes, in the same step, their consents,
// their browser sessions, their factors and recovery codes, and every
// token record whose Subject is their ID.
type UserStore interface {
	// CreateUser stores a new user; ErrAlreadyExists if the ID or the
	// username is taken.
	CreateUser(ctx context.Context, u User) error
	// GetUser returns the user with id or ErrNotFound.
	GetUser(ctx context.Context, id string) (User, error)
	// GetUserByUsername returns the user with username or ErrNotFound.
	GetUserByUsername(ctx context.Context, username string) (User, error)
	// ListUsers returns every user ordered by username.
	ListUsers(ctx context.Context) ([]User, error)
	// UpdateUser replaces the profile fields and password hash of the
	// user u.ID (Username, Name, Email, PasswordHash, UpdatedAt; ID and
	// CreatedAt stay); ErrNotFound if there is no such user,
	// ErrAlreadyExists if another user has the username.
	UpdateUser(ctx context.Context, u User) error
	// DeleteUser removes a user with their consents, browser sessions, factors and
	// tokens; ErrNotFound if there is no such user.
	DeleteUser(ctx context.Context, id string) error

	// SaveConsent creates or replaces the consent of (UserID, ClientID);
	// ErrNotFound if the user or the client does not exist.
	SaveConsent(ctx context.Context, c Consent) error
	// GetConsent returns the consent of userID to clientID or ErrNotFound.
	GetConsent(ctx context.Context, userID, clientID string) (Consent, error)
	// ListConsents returns the user's consents ordered by client ID.
	ListConsents(ctx context.Context, userID string) ([]Consent, error)
	// DeleteConsents withdraws the user's consent to clientID, or to every
	// client when clientID is empty, and in the same step revokes the
	// grants behind it: every token record (access and refresh tokens,
	// authorization codes and what they carry) whose Subject is userID and
	// whose client is clientID (any client when empty). Tokens are revoked
	// even where no consent is left to remove (a grant may outlive its
	// consent record); an ID that is no user revokes nothing.
	DeleteConsents(ctx context.Context, userID, clientID string) (Withdrawal, error)

	// CreateBrowserSession stores a session; ErrNotFound if the user does
	// not exist, ErrAlreadyExists if the ID is taken.
	CreateBrowserSession(ctx context.Context, bs BrowserSession) error
	// GetBrowserSession returns the session, expired or not, or
	// ErrNotFound.
	GetBrowserSession(ctx context.Context, id string) (BrowserSession, error)
	// DeleteBrowserSession removes one session; ErrNotFound if there is
	// none.
	DeleteBrowserSession(ctx context.Context, id string) error
	// ListBrowserSessions returns the user's sessions, expired or not,
	// ordered by AuthTime.
	ListBrowserSessions(ctx context.Context, userID string) ([]BrowserSession, error)
}

// FailureStore counts failed attempts (logins, client authentications) in
// fixed windows shared by every replica. Keys are chosen by the caller and
// must not contain personal data (hash a username first).
type FailureStore interface {
	// AddFailure counts one failure under key at now and returns the
	// number counted in the current window, this one included. A window
	// starts at the first failure after the previous one ended and lasts
	// window.
	AddFailure(ctx context.Context, key string, now time.Time, window time.Duration) (int, error)
	// Failures returns the number counted under key in the window that
	// holds now, and when that window ends; zero and the zero time when
	// there is none.
	Failures(ctx context.Context, key string, now time.Time) (int, time.Time, error)
	// ClearFailures forgets the failures under key.
	ClearFailures(ctx context.Context, key string) error
	// ReserveAttempt counts one attempt under key at now, as AddFailure
	// does, but only while fewer than limit are counted in the current
	// window, in one atomic step on every replica: of N concurrent callers
	// at most limit get reserved true. It returns whether it counted, the
	// count after it (or the count that refused it) and the window's end.
	// An attempt is reserved before it is checked; one that succeeds is
	// taken back with ReleaseAttempt, one that fails stays as its failure.
	ReserveAttempt(ctx context.Context, key string, now time.Time, window time.Duration, limit int) (reserved bool, count int, end time.Time, err error)
	// ReleaseAttempt takes back one reserved attempt under key in the
	// window that holds now; the count never goes below zero.
	ReleaseAttempt(ctx context.Context, key string, now time.Time) error
}

// AssertionStore remembers used client assertions (RFC 7523 section 3
// jti), so that each is accepted once on every replica.
type AssertionStore interface {
	// UseAssertion records that clientID used the assertion jti, which
	// expires at expires. Of any number of concurrent calls with one
	// (clientID, jti) exactly one succeeds; the others, and every later
	// call until DeleteExpired removes the record after expires, get
	// ErrAlreadyExists.
	UseAssertion(ctx context.Context, clientID, jti string, expires time.Time) error
}

// Store is everything a backend provides.
type Store interface {
	ClientStore
	TokenStore
	AssertionStore
	LogoutStore
	APIKeyStore
	KeyStore
	UserStore
	FactorStore
	PasskeyStore
	PersonStore
	OperatorStore
	ApprovalStore
	OperatorSessionStore
	FailureStore
	AuditStore
	AuditShipStore
	// Ping reports whether the backend can serve requests.
	Ping(ctx context.Context) error
	// Close releases the backend's resources.
	Close()
}
