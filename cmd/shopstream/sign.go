package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/shopstream/shopstream/pipeline"
)

// runSign prints the x-evershop-signature of stdin, so operators and the
// README's curl can sign a body without openssl.
func runSign(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("sign", flag.ContinueOnError)
	secret := fs.String("secret", os.Getenv("EVERSHOP_WEBHOOK_SECRET"), "secret (default $EVERSHOP_WEBHOOK_SECRET)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: sign: %w", errUsage, err)
	}
	var cfg Config
	if strings.TrimSpace(*secret) != "" {
		var err error
		if cfg.Secrets, err = pipeline.ParseSecrets(*secret); err != nil {
			return fmt.Errorf("sign: --secret: %w", err)
		}
	}
	if err := cfg.Validate(RoleSign); err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(os.Stdin, 64<<20))
	if err != nil {
		return fmt.Errorf("sign: read stdin: %w", err)
	}
	if len(body) == 0 {
		return errors.New("sign: stdin is empty")
	}
	// The first secret signs; the others are only accepted while rotating.
	fmt.Println(pipeline.SignEverShop(cfg.Secrets[0], body))
	return nil
}
