package clientauth

import (
	"os"
	"testing"

	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

// TestMain ends the run with one line when PostgreSQL tests skipped.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
