package memory_test

import (
	"testing"

	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/memory"
	"github.com/idvauth/idvauth/storage/storagetest"
)

func TestContract(t *testing.T) {
	storagetest.Run(t, func(testing.TB) storage.Store { return memory.New() })
}
