package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
)

// planNow is the instant the plan fixtures are built around.
var planNow = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

// planInventory returns n assets spread over five data centers, with
// renewal times an hour apart from a day before planNow onwards, so a few
// dozen are due; every 97th has no renewal time yet, every 50th is paused.
func planInventory(n int) []asset.Asset {
	assets := make([]asset.Asset, 0, n)
	for i := range n {
		j := (i * 7919) % n // a permutation of 0…n-1, since 7919 is prime
		rt := planNow.Add(time.Duration(j-24) * time.Hour)
		exp := rt.Add(30 * 24 * time.Hour)
		a := asset.Asset{
			SystemName:            fmt.Sprintf("dev%05d", j),
			DataCenter:            fmt.Sprintf("dc%d", j%5),
			IPAddress:             fmt.Sprintf("192.0.%d.%d", j/250, j%250),
			CertificateExpiration: &exp,
			RenewalTime:           &rt,
			Paused:                j%50 == 0,
		}
		if j%97 == 0 {
			a.CertificateExpiration, a.RenewalTime = nil, nil
		}
		// Most certificates came from a CA with ARI and are asked about
		// again every six hours, spread over the day; some never yet.
		if j%10 != 0 {
			check := planNow.Add(time.Duration(j%360-3) * time.Minute)
			a.RenewalCertID, a.RenewalCheckAt = fmt.Sprintf("aki.%05d", j), &check
			if j%197 == 0 {
				a.RenewalCheckAt = nil
			}
		}
		assets = append(assets, a)
	}
	return assets
}

// planNode is one node of EXPLAIN (FORMAT JSON)'s plan tree.
type planNode struct {
	NodeType     string     `json:"Node Type"`
	RelationName string     `json:"Relation Name"`
	IndexName    string     `json:"Index Name"`
	IndexCond    string     `json:"Index Cond"`
	Plans        []planNode `json:"Plans"`
}

// walk calls fn on n and every node below it.
func (n planNode) walk(fn func(planNode)) {
	fn(n)
	for _, c := range n.Plans {
		c.walk(fn)
	}
}

// literal spells v as an SQL literal, for EXECUTE's arguments.
func literal(v any) string {
	switch v := v.(type) {
	case time.Time:
		return "'" + v.Format(time.RFC3339Nano) + "'"
	case string:
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	default:
		return fmt.Sprint(v)
	}
}

// explain returns the plan PostgreSQL makes for query, prepared as the
// pool prepares statements, run with args under plan_cache_mode mode, and
// the plan's text form for messages.
func explain(t *testing.T, s *Store, mode, query string, args ...any) (planNode, string) {
	t.Helper()
	ctx := context.Background()
	conn, err := s.Pool().Acquire(ctx)
	must(t, err)
	defer conn.Release()
	_, err = conn.Exec(ctx, `SET plan_cache_mode = `+mode)
	must(t, err)
	_, err = conn.Exec(ctx, `PREPARE planned AS `+query)
	must(t, err)
	defer conn.Exec(ctx, `DEALLOCATE planned; RESET plan_cache_mode`)
	lits := make([]string, len(args))
	for i, a := range args {
		lits[i] = literal(a)
	}
	execute := `EXECUTE planned(` + strings.Join(lits, ", ") + `)`

	var doc []byte
	must(t, conn.QueryRow(ctx, `EXPLAIN (FORMAT JSON) `+execute).Scan(&doc))
	var plans []struct {
		Plan planNode `json:"Plan"`
	}
	must(t, json.Unmarshal(doc, &plans))
	var text strings.Builder
	rows, err := conn.Query(ctx, `EXPLAIN `+execute)
	must(t, err)
	defer rows.Close()
	for rows.Next() {
		var line string
		must(t, rows.Scan(&line))
		text.WriteString(line + "\n")
	}
	must(t, rows.Err())
	return plans[0].Plan, text.String()
}

func TestQueryPlans(t *testing.T) {
	ctx := context.Background()
	s := openFresh(t)
	// Enough rows, and fresh statistics, that the planner decides as it
	// would on a real inventory rather than on a table of a few pages,
	// which it reads whole whatever the indexes.
	must(t, s.ImportAssets(ctx, planInventory(20000)))
	// Every asset rotated once; every tenth has a rotation under way.
	_, err := s.Pool().Exec(ctx, `INSERT INTO rotations (asset, "trigger", state, created_at, updated_at, finished_at)
		SELECT system_name, 'schedule', 'succeeded', $1, $1, $1 FROM assets`, planNow)
	must(t, err)
	_, err = s.Pool().Exec(ctx, `INSERT INTO rotations (asset, "trigger", state, created_at, updated_at)
		SELECT system_name, 'schedule', 'running', $1, $1 FROM assets WHERE system_name LIKE '%0'`, planNow)
	must(t, err)
	_, err = s.Pool().Exec(ctx, `ANALYZE`)
	must(t, err)

	tests := []struct {
		name  string
		query string
		args  []any
		index string
	}{
		{"finds due assets through the due index", dueAssetsSQL, []any{planNow, 1000}, "assets_due"},
		{"finds certificates to ask the CA about through the recheck index", assetsToRecheckSQL, []any{planNow, 1000}, "assets_recheck"},
		{"finds an asset's active rotation through the one-active index", `SELECT ` + rotationColumns +
			` FROM rotations WHERE asset = $1 AND state IN ('pending', 'running')`,
			[]any{"dev00010"}, "rotations_one_active_per_asset"},
	}
	for _, tt := range tests {
		// The pool prepares statements, and PostgreSQL may plan a prepared
		// statement once for any arguments after a few runs instead of for
		// each run's: both kinds of plan must use the index.
		for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
			t.Run(tt.name+" with "+mode, func(t *testing.T) {
				plan, text := explain(t, s, mode, tt.query, tt.args...)
				usesIndex := false
				plan.walk(func(n planNode) {
					if n.NodeType == "Seq Scan" {
						t.Errorf("plan reads table %s whole:\n%s", n.RelationName, text)
					}
					if n.NodeType == "Sort" {
						t.Errorf("plan sorts:\n%s", text)
					}
					// An index condition bounds the scan; without one, it
					// walks the whole index.
					usesIndex = usesIndex || (n.IndexName == tt.index && n.IndexCond != "")
				})
				if !usesIndex {
					t.Errorf("plan does not search a range of index %s:\n%s", tt.index, text)
				}
				if testing.Verbose() {
					t.Logf("plan:\n%s", text)
				}
			})
		}
	}

	t.Run("the due query returns what the fixture makes due", func(t *testing.T) {
		got, err := s.DueAssets(ctx, planNow, 1000)
		must(t, err)
		want := 0
		for _, a := range planInventory(20000) {
			if !a.Paused && (a.RenewalTime == nil || !a.RenewalTime.After(planNow)) {
				want++
			}
		}
		if len(got) != want {
			t.Errorf("got %d due assets, want %d", len(got), want)
		}
	})
}
