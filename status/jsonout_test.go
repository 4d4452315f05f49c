package status

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// TestWriteJSONMatchesMarshalIndent: WriteJSON writes what
// json.MarshalIndent(sts, "", "  ") and a newline write, for statuses with
// every field, odd strings in every string field, none, one and several.
func TestWriteJSONMatchesMarshalIndent(t *testing.T) {
	var all []ProgramStatus
	for _, data := range marshalled() {
		st, err := Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, st)
	}
	odd := sample("odd")
	zone := time.FixedZone("X", -7200)
	far := time.Date(12000, 1, 2, 3, 4, 5, 6, zone)
	odd.Status.UpdatedAt, odd.Status.Instances[1].NextRetryAt = far, &far
	odd.Status.Instances[0].Message = "<b>a & b</b> \u2028 \xff µs"
	odd.Status.Instances[0].RecentExits[0].RanFor = Duration(1500 * time.Microsecond)
	cases := [][]ProgramStatus{nil, {}, {sample("one")}, {odd}, all, {bigStatus(400)}}
	for _, st := range all {
		cases = append(cases, []ProgramStatus{st})
	}
	for i, sts := range cases {
		want, err := json.MarshalIndent(sts, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if sts == nil {
			want = []byte("[]") // the command prints [] for none
		}
		want = append(want, '\n')
		var got bytes.Buffer
		if err := WriteJSON(&got, sts); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Errorf("case %d: WriteJSON differs from MarshalIndent:\n got %s\nwant %s", i, got.Bytes(), want)
		}
	}
}
