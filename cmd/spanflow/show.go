package main

import (
	"errors"
	"io"
)

// runShow is `spanflow show`.
func runShow(args []string, w io.Writer) error { return errors.New("not built yet") }
