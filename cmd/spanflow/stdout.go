package main

import "os"

var stdout = os.Stdout
