package killtest

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/lab/pebble"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/store/sqlite"
	"github.com/ottr-go/ottr/internal/verify"
)

// readCounts asks the lab for its CA's counts.
func readCounts(ctx context.Context, url string) (pebble.Counts, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return pebble.Counts{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return pebble.Counts{}, fmt.Errorf("CA counts: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return pebble.Counts{}, fmt.Errorf("CA counts: %s", resp.Status)
	}
	var c pebble.Counts
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		return pebble.Counts{}, fmt.Errorf("CA counts: %w", err)
	}
	return c, nil
}

// fleet is the state of every asset's rotations in ottr's store.
type fleet struct {
	assets []asset.Asset
	// rotations are every rotation, by asset, newest first.
	rotations map[string][]store.Rotation
	// byState counts every rotation by state.
	byState map[store.State]int
	// jobs are the rotations' jobs in the queue, by rotation ID: a
	// rotation left pending or running may have a job no process works,
	// or none at all.
	jobs map[int64]job
}

// job is a rotation's job in River's table.
type job struct{ state, queue string }

func readFleet(ctx context.Context, st *sqlite.Store) (fleet, error) {
	assets, err := st.ListAssets(ctx, store.AssetFilter{})
	if err != nil {
		return fleet{}, fmt.Errorf("store: %w", err)
	}
	rots, err := st.ListRotations(ctx, store.RotationFilter{})
	if err != nil {
		return fleet{}, fmt.Errorf("store: %w", err)
	}
	f := fleet{assets: assets, rotations: map[string][]store.Rotation{}, byState: map[store.State]int{}, jobs: map[int64]job{}}
	if f.jobs, err = readJobs(ctx, st.DB()); err != nil {
		return fleet{}, err
	}
	for _, r := range rots {
		f.rotations[r.Asset] = append(f.rotations[r.Asset], r)
		f.byState[r.State]++
	}
	for _, rs := range f.rotations {
		sort.Slice(rs, func(i, j int) bool { return rs[i].ID > rs[j].ID })
	}
	return f, nil
}

// readJobs reads the rotation jobs from River's table in the same
// database, as an operator would look into it.
func readJobs(ctx context.Context, db *sql.DB) (map[int64]job, error) {
	rows, err := db.QueryContext(ctx, `SELECT json_extract(args, '$.rotation_id'), state, queue FROM river_job WHERE kind = 'rotation'`)
	if err != nil {
		return nil, fmt.Errorf("river_job: %w", err)
	}
	defer rows.Close()
	jobs := map[int64]job{}
	for rows.Next() {
		var id int64
		var j job
		if err := rows.Scan(&id, &j.state, &j.queue); err != nil {
			return nil, fmt.Errorf("river_job: %w", err)
		}
		jobs[id] = j
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("river_job: %w", err)
	}
	return jobs, nil
}

func (f fleet) total() int {
	n := 0
	for _, c := range f.byState {
		n += c
	}
	return n
}

// stuck are the rotations neither finished nor failed: pending or running.
func (f fleet) stuck() int { return f.byState[store.StatePending] + f.byState[store.StateRunning] }

// settled reports whether every asset has a rotation and none is pending or
// running: nothing more happens without a new scan or request.
func (f fleet) settled() bool {
	return f.stuck() == 0 && len(f.unrotated()) == 0
}

// unrotated are the assets without any rotation.
func (f fleet) unrotated() []string {
	var names []string
	for _, a := range f.assets {
		if len(f.rotations[a.SystemName]) == 0 {
			names = append(names, a.SystemName)
		}
	}
	return names
}

// unsucceeded describes every asset whose last rotation did not succeed.
func (f fleet) unsucceeded() []string {
	var out []string
	for _, a := range f.assets {
		rs := f.rotations[a.SystemName]
		switch {
		case len(rs) == 0:
			out = append(out, a.SystemName+": never rotated")
		case rs[0].State != store.StateSucceeded:
			line := fmt.Sprintf("%s: rotation %d %s (attempts %d)", a.SystemName, rs[0].ID, rs[0].State, rs[0].Attempts)
			if rs[0].Error != "" {
				line += ": " + firstLine(rs[0].Error)
			}
			out = append(out, line)
		}
	}
	return out
}

// stuckRotations describes the rotations left pending or running.
func (f fleet) stuckRotations() []string {
	var out []string
	for _, a := range f.assets {
		for _, r := range f.rotations[a.SystemName] {
			if r.State == store.StatePending || r.State == store.StateRunning {
				steps := make([]string, 0, len(r.Journal))
				for _, e := range r.Journal {
					steps = append(steps, e.Step)
				}
				queued := "no job"
				if j, ok := f.jobs[r.ID]; ok {
					queued = fmt.Sprintf("job %s on queue %s", j.state, j.queue)
				}
				out = append(out, fmt.Sprintf("%s: rotation %d %s after steps [%s], %s", a.SystemName, r.ID, r.State, strings.Join(steps, " "), queued))
			}
		}
	}
	return out
}

// stuckKinds counts the stuck rotations by their state and their job's,
// which tells a queue nobody works (a job available) from a rotation with
// no job and a job left running by a killed process.
func (f fleet) stuckKinds() string {
	kinds := map[string]int{}
	for _, rs := range f.rotations {
		for _, r := range rs {
			if r.State != store.StatePending && r.State != store.StateRunning {
				continue
			}
			kind := string(r.State) + " with no job"
			if j, ok := f.jobs[r.ID]; ok {
				kind = string(r.State) + " with its job " + j.state
			}
			kinds[kind]++
		}
	}
	if len(kinds) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(kinds))
	for kind, n := range kinds {
		parts = append(parts, fmt.Sprintf("%d %s", n, kind))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func (f fleet) String() string {
	return fmt.Sprintf("%d rotations (%s)", f.total(), statesLine(f.byState))
}

func statesLine(byState map[store.State]int) string {
	parts := []string{}
	for _, s := range []store.State{store.StateSucceeded, store.StateFailed, store.StateRolledBack, store.StatePending, store.StateRunning} {
		if n := byState[s]; n > 0 || s == store.StatePending || s == store.StateRunning {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	return strings.Join(parts, ", ")
}

// served is what one device presents in a TLS handshake.
type served struct {
	serial string
	err    error
}

// servedLeaves shakes hands with every asset's device, as ottr's verify
// step does, and returns the leaf serial each serves.
func servedLeaves(ctx context.Context, assets []asset.Asset) map[string]served {
	out := make(map[string]served, len(assets))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, a := range assets {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var s served
			chain, err := verify.Fetch(ctx, net.JoinHostPort(a.IPAddress, strconv.Itoa(a.Port)), a.SystemName, 10*time.Second)
			switch {
			case err != nil:
				s.err = err
			case len(chain) == 0:
				s.err = fmt.Errorf("no certificate")
			default:
				s.serial = verify.SerialHex(chain[0])
			}
			mu.Lock()
			out[a.SystemName] = s
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// mismatches describes every device that does not serve the leaf the
// store records for it.
func mismatches(assets []asset.Asset, leaves map[string]served) []string {
	var out []string
	for _, a := range assets {
		s := leaves[a.SystemName]
		switch {
		case s.err != nil:
			out = append(out, fmt.Sprintf("%s: %v", a.SystemName, s.err))
		case a.CertificateSerial == "":
			out = append(out, fmt.Sprintf("%s serves %s; the store records no certificate", a.SystemName, s.serial))
		case s.serial != a.CertificateSerial:
			out = append(out, fmt.Sprintf("%s serves %s; the store records %s", a.SystemName, s.serial, a.CertificateSerial))
		}
	}
	return out
}

// wasted describes the certificates the CA issued that no device serves.
func wasted(counts pebble.Counts, leaves map[string]served) []string {
	serving := map[string]bool{}
	for _, s := range leaves {
		if s.serial != "" {
			serving[s.serial] = true
		}
	}
	var out []string
	for _, o := range counts.IssuedExcept(serving) {
		out = append(out, o.String())
	}
	return out
}

// reordered lists the names the CA saw more than one order for, with how
// many, most first.
func reordered(counts pebble.Counts) []string {
	perName := counts.OrdersPerName()
	var names []string
	for n, c := range perName {
		if c > 1 {
			names = append(names, n)
		}
	}
	slices.SortFunc(names, func(a, b string) int {
		if perName[a] != perName[b] {
			return perName[b] - perName[a]
		}
		return strings.Compare(a, b)
	})
	for i, n := range names {
		names[i] = fmt.Sprintf("%s (%d orders)", n, perName[n])
	}
	return names
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// some joins the first n items, saying how many more there are.
func some(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, "\n  ")
	}
	return strings.Join(items[:n], "\n  ") + fmt.Sprintf("\n  … and %d more", len(items)-n)
}
