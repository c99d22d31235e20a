package memory_test

import (
	"testing"

	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/memory"
	"github.com/idvauth/idvauth/storage/storagetest"
	"github.com/idvauth/idvauth/storage/storagetest/vaulttest"
)

func TestContract(t *testing.T) {
	storagetest.Run(t, func(testing.TB) storage.Store { return memory.New() })
}

func TestPersonKeysContract(t *testing.T) {
	vaulttest.Run(t, func(*testing.T) storage.PersonKeyStore { return memory.NewPersonKeys() })
}
