// Command wsbench load-tests and inspects WebSocket servers.
package main

import "github.com/wsbench/wsbench/cmd"

func main() { cmd.Execute() }
