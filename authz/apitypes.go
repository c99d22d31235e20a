package authz

import (
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/storage"
)

// The admin API's wire types and audit event names live in package
// adminapi, which its Go client shares with the server; these aliases keep
// their authz names.

// Wire types of the admin API.
type (
	ClientJSON        = adminapi.ClientJSON
	ClientList        = adminapi.ClientList
	UserJSON          = adminapi.UserJSON
	UserInput         = adminapi.UserInput
	UserList          = adminapi.UserList
	ConsentWithdrawal = adminapi.ConsentWithdrawal
	UserErasure       = adminapi.UserErasure
	UserExport        = adminapi.UserExport
	ConsentJSON       = adminapi.ConsentJSON
	SessionJSON       = adminapi.SessionJSON
	TokenRecordJSON   = adminapi.TokenRecordJSON
	KeyJSON           = adminapi.KeyJSON
	KeyList           = adminapi.KeyList
	RotateKeysRequest = adminapi.RotateKeysRequest
	RetireKeyRequest  = adminapi.RetireKeyRequest
	AuditEntryJSON    = adminapi.AuditEntryJSON
	AuditPage         = adminapi.AuditPage
	AuditVerification = adminapi.AuditVerification
	AuditAnchor       = adminapi.AuditAnchor
)

// MaxAuditVerifyLimit bounds the limit of one GET /admin/audit/verify.
const MaxAuditVerifyLimit = adminapi.MaxAuditVerifyLimit

// ParseAuditAnchor reads SEQ:HASH, an entry's seq and its hash in hex, as
// a verification prints them.
func ParseAuditAnchor(v string) (AuditAnchor, error) { return adminapi.ParseAuditAnchor(v) }

// Audit event types: the Type of every entry the server writes.
const (
	EventTokenIssued       = adminapi.EventTokenIssued
	EventTokenRefused      = adminapi.EventTokenRefused
	EventTokenIntrospected = adminapi.EventTokenIntrospected
	EventTokenRevoked      = adminapi.EventTokenRevoked
	EventClientCreated     = adminapi.EventClientCreated
	EventClientUpdated     = adminapi.EventClientUpdated
	EventClientDeleted     = adminapi.EventClientDeleted
	EventClientSecret      = adminapi.EventClientSecret
	EventClientLocked      = adminapi.EventClientLocked
	EventKeyCreated        = adminapi.EventKeyCreated
	EventKeyActivated      = adminapi.EventKeyActivated
	EventKeyRetired        = adminapi.EventKeyRetired
	EventKeyRemoved        = adminapi.EventKeyRemoved
	EventLoginSucceeded    = adminapi.EventLoginSucceeded
	EventLoginFailed       = adminapi.EventLoginFailed
	EventConsentGiven      = adminapi.EventConsentGiven
	EventConsentWithdrawn  = adminapi.EventConsentWithdrawn
	EventUserCreated       = adminapi.EventUserCreated
	EventUserDeleted       = adminapi.EventUserDeleted
	EventUserErased        = adminapi.EventUserErased
	EventUserinfoRead      = adminapi.EventUserinfoRead
	EventUserExported      = adminapi.EventUserExported
	EventAdminRequest      = adminapi.EventAdminRequest
	EventAuditCheckpoint   = adminapi.EventAuditCheckpoint
)

// adminapi spells out two of the store's constants, for it imports only
// the standard library; these fail to compile if they drift apart (a
// duplicate map key, a negative constant converted to uint).
var (
	_ = map[bool]struct{}{false: {}, adminapi.EventAuditCheckpoint == storage.AuditCheckpoint: {}}
	_ = uint(adminapi.MaxAuditPage-storage.MaxAuditPage) + uint(storage.MaxAuditPage-adminapi.MaxAuditPage)
)
