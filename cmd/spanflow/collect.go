package main

import "errors"

// runCollect is `spanflow collect`.
func runCollect(args []string) error { return errors.New("not built yet") }
