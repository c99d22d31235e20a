package adminapi

// UserJSON is a person as the admin API shows them: never the password or
// its hash.
type UserJSON struct {
	ID        string `json:"id"`
	Username  string `json:"username"`
	Name      string `json:"name"`
	Email     string `json:"email"`
	CreatedAt int64  `json:"created_at"`
	UpdatedAt int64  `json:"updated_at"`
}

// UserInput is what POST /admin/users takes.
type UserInput struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Name     string `json:"name"`
	Email    string `json:"email"`
}

// UserList is the answer of GET /admin/users.
type UserList struct {
	Users []UserJSON `json:"users"`
}

// ConsentWithdrawal is the answer of DELETE /admin/users/{id}/consents.
type ConsentWithdrawal struct {
	UserID    string `json:"user_id"`
	Withdrawn int    `json:"withdrawn"`
}

// UserErasure is the answer of POST /admin/users/{id}/erase.
type UserErasure struct {
	UserID string `json:"user_id"`
	Erased bool   `json:"erased"`
}

// UserExport is everything idvauth holds about one person (GDPR article
// 15), as GET /admin/users/{id}/export answers it. Token values and their
// signatures are not kept, so they are not here; the password hash is
// held but not exported.
type UserExport struct {
	User     UserJSON          `json:"user"`
	Password string            `json:"password"`
	Consents []ConsentJSON     `json:"consents"`
	Sessions []SessionJSON     `json:"sessions"`
	Tokens   []TokenRecordJSON `json:"tokens"`
	// Audit holds the audit entries about the person.
	Audit []AuditEntryJSON `json:"audit"`
}

// ConsentJSON is one consent in a person's export.
type ConsentJSON struct {
	ClientID  string `json:"client_id"`
	Scope     string `json:"scope"`
	GrantedAt string `json:"granted_at"`
}

// SessionJSON is one browser session in a person's export.
type SessionJSON struct {
	AuthTime  string `json:"auth_time"`
	ExpiresAt string `json:"expires_at"`
}

// TokenRecordJSON is the record of one token in a person's export.
type TokenRecordJSON struct {
	Kind       string   `json:"kind"`
	ClientID   string   `json:"client_id"`
	Scope      string   `json:"scope,omitempty"`
	Audience   []string `json:"aud,omitempty"`
	JTI        string   `json:"jti,omitempty"`
	IssuedAt   string   `json:"issued_at"`
	ExpiresAt  string   `json:"expires_at"`
	ConsumedAt string   `json:"consumed_at,omitempty"`
}
