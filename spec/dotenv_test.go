package spec

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseDotenv(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []EnvVar
		err      string // the error's text; "" for none
	}{
		{"empty", "", nil, ""},
		{"plain", "A=1\nB=two words\n", []EnvVar{{"A", "1"}, {"B", "two words"}}, ""},
		{"no final newline", "A=1", []EnvVar{{"A", "1"}}, ""},
		{"crlf", "A=1\r\nB=2\r\n", []EnvVar{{"A", "1"}, {"B", "2"}}, ""},
		{"comments and blanks", "# a comment\n\n   \n  # indented\nA=1\n", []EnvVar{{"A", "1"}}, ""},
		{"export", "export A=1\nexport\tB=2\nexported=3\n", []EnvVar{{"A", "1"}, {"B", "2"}, {"exported", "3"}}, ""},
		{"blanks around", "  A = 1  \n", []EnvVar{{"A", "1"}}, ""},
		{"empty value", "A=\nB=\"\"\nC=''\n", []EnvVar{{"A", ""}, {"B", ""}, {"C", ""}}, ""},
		{"inline comment", "A=1 # one\nB=x#y\nC=a\t#tab\n", []EnvVar{{"A", "1"}, {"B", "x#y"}, {"C", "a"}}, ""},
		{"equals in value", "URL=postgres://u@h/db?sslmode=off\n", []EnvVar{{"URL", "postgres://u@h/db?sslmode=off"}}, ""},
		{"dollar kept", "A=$(HOME)\nB=${HOME}\n", []EnvVar{{"A", "$(HOME)"}, {"B", "${HOME}"}}, ""},
		{"single quotes", "A='x # not a comment \\n'\n", []EnvVar{{"A", "x # not a comment \\n"}}, ""},
		{"double quotes", `A="a\nb\t\"c\" \\ \$ \q" # c` + "\n", []EnvVar{{"A", "a\nb\t\"c\" \\ $ \\q"}}, ""},
		{"multi-line", "A=\"line 1\nline 2\"\nB=3\n", []EnvVar{{"A", "line 1\nline 2"}, {"B", "3"}}, ""},
		{"multi-line single", "A='x\n\ny'\nB=3", []EnvVar{{"A", "x\n\ny"}, {"B", "3"}}, ""},
		{"twice", "A=1\nA=2\n", []EnvVar{{"A", "1"}, {"A", "2"}}, ""},
		{"no equals", "A=1\nhunter2\n", nil, "line 2: expected NAME=value, found no ="},
		{"no name", "=x\n", nil, "line 1: expected NAME=value, found no name before ="},
		{"bad name", "1A=x\n", nil, "line 1: expected NAME=value: a name is letters, digits and _, not starting with a digit"},
		{"name with blank", "MY KEY=x\n", nil, "line 1: expected NAME=value: a name is letters, digits and _, not starting with a digit"},
		{"reserved", "RECONCILED_INSTANCE=3\n", nil, "line 1: RECONCILED_INSTANCE: RECONCILED_* variables are set by the daemon"},
		{"unterminated", "A=1\nB=\"secret\nC=3\n", nil, "line 2: B: no closing \""},
		{"after the quote", "A=1\n\nB='x'y\n", nil, "line 3: B: unexpected text after the closing quote"},
		{"after a multi-line quote", "B=\"x\ny\"z\n", nil, "line 2: B: unexpected text after the closing quote"},
		{"binary", "A=\x00\n", nil, "line 1: not a text file: a dotenv file is UTF-8 NAME=value lines"},
		{"too large", "A=" + strings.Repeat("x", MaxEnvFileSize), nil, "line 1: file is larger than 1048576 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDotenv([]byte(tc.in))
			switch {
			case tc.err != "" && (err == nil || err.Error() != tc.err):
				t.Fatalf("error %v, want %q", err, tc.err)
			case tc.err == "" && err != nil:
				t.Fatalf("error %v", err)
			case !reflect.DeepEqual(got, tc.want):
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "secret") || err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error quotes a value: %v", err)
			}
		})
	}
}

func TestWithEnvFrom(t *testing.T) {
	p, errs := Parse("web.yaml", []byte("spec:\n  command: x\n  env: {B: own, C: \"$(A)-$(B)\"}\n  envFrom:\n  - file: one.env\n  - {file: /etc/two.env}\n"))
	if errs != nil {
		t.Fatal(errs)
	}
	before := Hash(p)
	q, errs := WithEnvFrom(p, "web.yaml", [][]byte{[]byte("A=1\nB=file\nD=4\n"), []byte("D=two\n")})
	if errs != nil {
		t.Fatal(errs)
	}
	if p.EnvFromVars != nil {
		t.Error("WithEnvFrom changed its argument")
	}
	if want := map[string]string{"A": "1", "B": "file", "D": "two"}; !reflect.DeepEqual(q.EnvFromVars, want) {
		t.Errorf("vars %v, want %v", q.EnvFromVars, want)
	}
	// env wins over the files; the files' values are not expanded, but
	// env's may refer to them.
	env := strings.Join(InstanceEnv(q, 0, []string{"A=daemon", "D=daemon"}), " ")
	for _, kv := range []string{"A=1", "B=own", "C=1-own", "D=two"} {
		if !strings.Contains(" "+env+" ", " "+kv+" ") {
			t.Errorf("env %q lacks %s", env, kv)
		}
	}
	tmpl := NewEnvTemplate(q, []string{"A=daemon"})
	if got, want := tmpl.Env(3), InstanceEnv(q, 3, []string{"A=daemon"}); !reflect.DeepEqual(got, want) {
		t.Errorf("template %q, want %q", got, want)
	}

	// The contents are in the hash; what env overrides is not.
	h := Hash(q)
	if h == before {
		t.Error("the files' variables do not change the hash")
	}
	r, _ := WithEnvFrom(p, "web.yaml", [][]byte{[]byte("A=1\nB=other\nD=4\n"), []byte("# a comment\nD=two\n")})
	if Hash(r) != h {
		t.Error("a variable env overrides, or a comment, changed the hash")
	}
	r, _ = WithEnvFrom(p, "web.yaml", [][]byte{[]byte("A=2\nB=file\n"), []byte("D=two\n")})
	if Hash(r) == h {
		t.Error("a changed value did not change the hash")
	}

	// Errors are located at the entry, with the file's line.
	_, errs = WithEnvFrom(p, "web.yaml", [][]byte{[]byte("A=1\n"), []byte("\nD='secret\n")})
	if len(errs) != 1 || errs.Error() != "web.yaml:6:6: spec.envFrom[1].file: /etc/two.env:2: D: no closing '" {
		t.Errorf("errors %q", errs.Error())
	}

	// Without envFrom, nothing changes.
	plain, _ := Parse("w.yaml", []byte("spec:\n  command: x\n"))
	if got, _ := WithEnvFrom(plain, "w.yaml", nil); got != plain {
		t.Error("a program without envFrom was copied")
	}
}
