package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/commcredits/commcredits/internal/client"
	"github.com/commcredits/commcredits/internal/db"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/rating"
	"github.com/commcredits/commcredits/internal/store"
)

// cmdRateCard imports and lists rate card versions stored in the database.
func cmdRateCard(ctx context.Context, args []string, stdout, stderr io.Writer, h hooks) int {
	if len(args) == 0 || (args[0] != "import" && args[0] != "list") {
		fmt.Fprintln(stderr, "usage: commcredits ratecard import --service S --currency C [--db DSN | --url URL --key KEY] FILE\n       commcredits ratecard list [--db DSN | --url URL --key KEY] [--json]")
		return exitUsage
	}
	sub := args[0]
	fs := newFlagSet("ratecard "+sub, stderr)
	dsn := fs.String("db", envOr(h, envDB, db.DefaultDSN), "database DSN (env "+envDB+")")
	service := fs.String("service", "", "outbound, dial_out or toll_free (import)")
	currency := fs.String("currency", "", "ISO 4217 currency of the card (import)")
	asJSON := fs.Bool("json", false, "print JSON")
	url := fs.String("url", envOr(h, envURL, ""), "server URL (env "+envURL+"); instead of --db")
	key := fs.String("key", envOr(h, envKey, ""), "API key for --url, an operator key to import (env "+envKey+")")
	idem := fs.String("idempotency-key", "", "Idempotency-Key of the import with --url (default: a new one, kept across retries)")
	pos, code, ok := parseInterleaved(fs, args[1:])
	if !ok {
		return code
	}
	if err := fs.Parse(pos); err != nil {
		return exitUsage
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "commcredits ratecard %s: "+format+"\n", append([]any{sub}, a...)...)
		return code
	}
	var svc rating.Service
	var cur money.Currency
	if sub == "import" {
		var ok bool
		if svc, ok = rating.ParseService(*service); !ok {
			return fail(exitUsage, "--service %q: want outbound, dial_out or toll_free", *service)
		}
		var err error
		if cur, err = money.LookupCurrency(*currency); err != nil {
			return fail(exitUsage, "--currency: %v", err)
		}
		if fs.NArg() != 1 {
			return fail(exitUsage, "want one FILE, got %d", fs.NArg())
		}
	}
	remote, err := useURL(fs, *url)
	if err != nil {
		return exitWith(stderr, "ratecard "+sub, err)
	}
	if remote {
		cn := conn{url: *url, key: *key, idem: *idem, json: *asJSON, timeout: 5 * time.Minute}
		c, _, err := cn.open(ctx, fs, stderr)
		if err != nil {
			return exitWith(stderr, "ratecard "+sub, err)
		}
		return exitWith(stderr, "ratecard "+sub, rateCardRemote(ctx, c, sub, svc, cur, fs.Args(), *asJSON, stdout))
	}
	d, err := db.Open(ctx, *dsn, db.WithMigrate())
	if err != nil {
		return fail(exitError, "database %s: %v", db.Redact(*dsn), err)
	}
	defer d.Close()
	st := store.New(d)
	if sub == "list" {
		infos, err := st.RateCardVersions(ctx)
		if err != nil {
			return fail(exitError, "%v", err)
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			_ = enc.Encode(infos)
			return exitOK
		}
		printCards(stdout, infos)
		return exitOK
	}
	data, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return fail(exitError, "%v", err)
	}
	card, err := st.ImportRateCard(ctx, rating.NewRegistry(), svc, cur, data, time.Now())
	if err != nil {
		return fail(exitError, "%s: nothing imported:\n%v", fs.Arg(0), err)
	}
	fmt.Fprintf(stdout, "stored %s: %d rows (sha256 %s)\n", card.ID(), card.Len(), card.Digest())
	return exitOK
}

func printCards(w io.Writer, infos []store.RateCardInfo) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tCURRENCY\tVERSION\tROWS\tIMPORTED\tSHA-256")
	for _, i := range infos {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%.12s\n", i.Service, i.Currency, i.Version, i.Rows, i.ImportedAt.Format(time.RFC3339), i.Digest)
	}
	_ = tw.Flush()
}

// rateCardRemote is ratecard import|list against a server.
func rateCardRemote(ctx context.Context, c *client.Client, sub string, svc rating.Service, cur money.Currency, args []string, asJSON bool, stdout io.Writer) error {
	if sub == "list" {
		infos, res, err := c.RateCards(ctx)
		if err != nil {
			return err
		}
		if asJSON {
			printJSON(stdout, res.Body)
		} else {
			printCards(stdout, infos)
		}
		return nil
	}
	data, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	card, res, err := c.UploadRateCard(ctx, string(svc), cur.Code, data)
	if err != nil {
		return err // the problem says nothing was stored and lists the lines
	}
	if asJSON {
		printJSON(stdout, res.Body)
		return nil
	}
	fmt.Fprintf(stdout, "stored %s/%s/v%d: %d rows (sha256 %s)\n", card.Service, card.Currency, card.Version, card.Rows, card.Digest)
	return nil
}
