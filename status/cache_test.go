package status

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"
	"time"
)

// TestSameInstanceSeesEveryField changes each field of an instance in turn
// (through reflection, so that a field added to Instance is covered) and
// requires sameInstance to see the change, and to see none in a deep copy.
func TestSameInstanceSeesEveryField(t *testing.T) {
	base := sample("w").Status.Instances[0]
	cp := ProgramStatus{Status: Status{Instances: []Instance{base}}}.DeepCopy().Status.Instances[0]
	cp.RecentExits = append([]Exit(nil), base.RecentExits...)
	if !sameInstance(&base, &cp) {
		t.Fatal("a deep copy differs")
	}
	typ := reflect.TypeOf(base)
	for i := range typ.NumField() {
		f := typ.Field(i)
		changed := ProgramStatus{Status: Status{Instances: []Instance{base}}}.DeepCopy().Status.Instances[0]
		changed.RecentExits = append([]Exit(nil), base.RecentExits...)
		v := reflect.ValueOf(&changed).Elem().Field(i)
		switch f.Type.Kind() {
		case reflect.String:
			v.SetString(v.String() + "x")
		case reflect.Int:
			v.SetInt(v.Int() + 1)
		case reflect.Bool:
			v.SetBool(!v.Bool())
		case reflect.Pointer:
			switch p := v.Interface().(type) {
			case *time.Time:
				later := time.Unix(1, 0)
				if p != nil {
					later = p.Add(time.Millisecond)
				}
				v.Set(reflect.ValueOf(&later))
			case *Exit:
				x := Exit{}
				if p != nil {
					x = *p
					x.Reason += "x"
				}
				v.Set(reflect.ValueOf(&x))
			default:
				t.Fatalf("field %s: no change for %T", f.Name, p)
			}
		case reflect.Slice:
			changed.RecentExits[1].RanFor++
		default:
			t.Fatalf("field %s: no change for kind %v", f.Name, f.Type.Kind())
		}
		if sameInstance(&base, &changed) {
			t.Errorf("a change of %s is not seen", f.Name)
		}
	}
}

// TestMarshalCachedMatchesMarshal encodes a sequence of statuses through one
// cache, as a Writer does, each changing a few instances, adding some or
// dropping some, and requires the same bytes as Marshal.
func TestMarshalCachedMatchesMarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	c := &encodeCache{}
	st := bigStatus(50)
	for step := range 200 {
		next := st.DeepCopy()
		insts := next.Status.Instances
		switch rng.IntN(4) {
		case 0: // one exits and restarts
			if len(insts) > 0 {
				in := &insts[rng.IntN(len(insts))]
				x := Exit{Code: rng.IntN(3), At: time.Unix(int64(step), 0), RanFor: Duration(time.Second)}
				in.LastExit, in.RecentExits, in.Restarts, in.Pid = &x, append([]Exit{x}, in.RecentExits...), in.Restarts+1, in.Pid+1
			}
		case 1: // scale down by a few
			if len(insts) > 3 {
				insts = insts[:len(insts)-rng.IntN(3)]
			}
		case 2: // scale up by a few
			for range rng.IntN(3) {
				i := len(insts)
				insts = append(insts, Instance{Name: "bench-" + strconv.Itoa(i), Index: i, State: "STARTING"})
			}
		case 3: // one in the middle goes (a new one fills the gap next time)
			if len(insts) > 2 {
				k := 1 + rng.IntN(len(insts)-2)
				insts = append(insts[:k:k], insts[k+1:]...)
			}
		}
		next.Status.Instances = insts
		next.Status.UpdatedAt = time.Unix(int64(step), 0)
		want, _ := Marshal(next)
		old := c.data
		if got := marshal(next, c); !bytes.Equal(got, want) {
			t.Fatalf("step %d: the cached encoding differs:\n%s\nwant:\n%s", step, got, want)
		}
		c.recycle(old) // as the Writer does: the next encoding may reuse it
		st = next
	}
}

// BenchmarkMarshalCached: a status in which one instance changed, encoded
// through the cache of the one before, as the Writer does after an exit.
func BenchmarkMarshalCached(b *testing.B) {
	for _, n := range benchSizes {
		st := bigStatus(n)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			c := &encodeCache{}
			marshal(st, c)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				next := st
				next.Status.Instances = append([]Instance(nil), st.Status.Instances...)
				next.Status.Instances[i%n].Pid++
				b.StartTimer()
				old := c.data
				marshal(next, c)
				c.recycle(old)
				st = next
			}
		})
	}
}
