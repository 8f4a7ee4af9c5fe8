package cmd

// args.go checks positional arguments with errors that name the argument
// that is missing or extra, instead of cobra's "accepts 1 arg(s)".

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// oneArg wants exactly one positional argument, called name (as in the
// command's Use line); example is a command line that has it.
func oneArg(name, example string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		switch {
		case len(args) == 0:
			return usageError(fmt.Errorf("%s: missing the %s argument (e.g. %s)", c.Name(), name, example))
		case len(args) > 1:
			return usageError(fmt.Errorf("%s takes one %s argument, got %d: %s", c.Name(), name, len(args), strings.Join(args, " ")))
		}
		return nil
	}
}

// someArgs wants at least one positional argument, called name.
func someArgs(name, example string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return usageError(fmt.Errorf("%s: missing the %s argument (e.g. %s)", c.Name(), name, example))
		}
		return nil
	}
}

// noArgs refuses positional arguments, naming them; hint says what the
// command takes instead.
func noArgs(hint string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usageError(fmt.Errorf("%s takes no arguments, got %s: %s", c.Name(), strings.Join(args, " "), hint))
		}
		return nil
	}
}
