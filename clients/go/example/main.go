// A runnable example: run two cells in a sandboxed session.
//
//	CODEACT_API_KEY=s3cret go run ./example 127.0.0.1:50054
package main

import (
	"context"
	"fmt"
	"log"
	"os"

	codeact "codeact.dev/client"
)

func main() {
	target := "127.0.0.1:50054"
	if len(os.Args) > 1 {
		target = os.Args[1]
	}
	client, err := codeact.Dial(target, codeact.Options{}) // token from $CODEACT_API_KEY
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	session, err := client.CreateSession(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer session.Delete(ctx)
	if _, err := session.Run(ctx, "x = 41"); err != nil {
		log.Fatal(err)
	}
	cell, err := session.Run(ctx, "print(x + 1)")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(cell.Stdout)
}
