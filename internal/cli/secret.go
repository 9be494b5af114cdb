package cli

import (
	"fmt"

	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/secret"
	"github.com/ottr-go/ottr/internal/secret/stores"
)

// secretResolver builds the Resolver of cfg for a command that resolves
// references without opening the app.
func (g *globals) secretResolver(cfg *config.Config) (*secret.Resolver, error) {
	r, err := stores.New(cfg.Secrets, stores.Options{Logger: g.logger()})
	if err != nil {
		return nil, configError(fmt.Errorf("secrets: %w", err))
	}
	return r, nil
}
