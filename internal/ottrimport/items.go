package ottrimport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/ottr-go/ottr/internal/asset"
)

// Item is one asset read from the export, with where it was found.
type Item struct {
	// Where names the item in the export: "item 3", or "line 3" of an
	// S3 export.
	Where string
	Asset asset.Asset
}

// name is the item's place and, when known, its system_name, for errors.
func (it Item) name() string {
	if it.Asset.SystemName == "" {
		return it.Where
	}
	return fmt.Sprintf("%s (%s)", it.Where, it.Asset.SystemName)
}

// ReadItems reads a DynamoDB export of Ottr's asset table, in any of the
// shapes the AWS tools write: the output of `aws dynamodb scan --output
// json` ({"Items": […]}), a JSON array of items, or DynamoDB's export to
// S3 in DynamoDB JSON (one {"Item": {…}} a line). Items are in DynamoDB's
// typed JSON or plain, as asset.ParseOttrItem reads them. Every item that
// does not read is reported, each by its place.
func ReadItems(data []byte) ([]Item, error) {
	values, err := jsonValues(data)
	if err != nil {
		return nil, err
	}
	var raws []json.RawMessage
	where := "item"
	switch {
	case len(values) > 1:
		// An S3 export: one {"Item": …} a line.
		where = "line"
		for _, v := range values {
			var line struct {
				Item json.RawMessage `json:"Item"`
			}
			if json.Unmarshal(v, &line) == nil && len(line.Item) > 0 {
				v = line.Item
			}
			raws = append(raws, v)
		}
	case bytes.HasPrefix(bytes.TrimSpace(values[0]), []byte("[")):
		if err := json.Unmarshal(values[0], &raws); err != nil {
			return nil, fmt.Errorf("want a JSON array of items: %w", err)
		}
	default:
		var scan struct {
			Items *[]json.RawMessage `json:"Items"`
			Item  json.RawMessage    `json:"Item"`
		}
		if err := json.Unmarshal(values[0], &scan); err != nil {
			return nil, fmt.Errorf(`want the output of 'aws dynamodb scan' ({"Items": […]}): %w`, err)
		}
		switch {
		case scan.Items != nil:
			raws = *scan.Items
		case len(scan.Item) > 0:
			where, raws = "line", []json.RawMessage{scan.Item}
		default:
			raws = []json.RawMessage{values[0]}
		}
	}
	if len(raws) == 0 {
		return nil, errors.New("no items: is this the export of Ottr's asset table?")
	}
	items := make([]Item, 0, len(raws))
	var problems []error
	for i, raw := range raws {
		it := Item{Where: fmt.Sprintf("%s %d", where, i+1)}
		a, err := asset.ParseOttrItem(raw)
		if err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", it.Where, err))
			continue
		}
		it.Asset = a
		items = append(items, it)
	}
	return items, errors.Join(problems...)
}

// jsonValues splits data into its top-level JSON values.
func jsonValues(data []byte) ([]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var values []json.RawMessage
	for {
		var v json.RawMessage
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			line := bytes.Count(data[:min(int(dec.InputOffset()), len(data))], []byte("\n")) + 1
			return nil, fmt.Errorf("not JSON (line %d): %w", line, err)
		}
		values = append(values, v)
	}
	if len(values) == 0 {
		return nil, errors.New("empty: want the output of 'aws dynamodb scan' or a DynamoDB export")
	}
	return values, nil
}
