package rest_test

import (
	"testing"

	"github.com/commcredits/commcredits/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }
