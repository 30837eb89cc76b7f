package store

import "testing"

func TestParseDSN(t *testing.T) {
	tests := []struct {
		dsn     string
		dialect string
		path    string
		sync    string
		wantErr bool
	}{
		{dsn: "sqlite:///var/lib/pd/x.db", dialect: SQLite, path: "/var/lib/pd/x.db", sync: "FULL"},
		{dsn: "sqlite://data/policydesk.db", dialect: SQLite, path: "data/policydesk.db", sync: "FULL"},
		{dsn: "sqlite:///tmp/x.db?synchronous=normal", dialect: SQLite, path: "/tmp/x.db", sync: "NORMAL"},
		{dsn: "sqlite:///tmp/x.db?synchronous=off", wantErr: true},
		{dsn: "sqlite:///tmp/x.db?bogus=1", wantErr: true},
		{dsn: "sqlite://", wantErr: true},
		{dsn: "postgres://u@127.0.0.1:5432/db?sslmode=disable", dialect: Postgres},
		{dsn: "postgresql://u@h/db", dialect: Postgres},
		{dsn: "postgres://u@h/db?pool_max_conns=0", wantErr: true},
		{dsn: "mysql://u@h/db", wantErr: true},
		{dsn: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.dsn, func(t *testing.T) {
			cfg, err := ParseDSN(tt.dsn)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseDSN(%q) = %+v, want error", tt.dsn, cfg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Dialect != tt.dialect || cfg.Path != tt.path || (tt.sync != "" && cfg.Synchronous != tt.sync) {
				t.Errorf("ParseDSN(%q) = %+v", tt.dsn, cfg)
			}
		})
	}
}

func TestParseDSNPoolSize(t *testing.T) {
	cfg, err := ParseDSN("postgres://u@h/db?sslmode=disable&pool_max_conns=4")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxConns != 4 || cfg.URL != "postgres://u@h/db?plan_cache_mode=force_custom_plan&sslmode=disable" {
		t.Errorf("got %+v", cfg)
	}
}

func TestChooseDSN(t *testing.T) {
	tests := []struct{ flag, env, dir, want string }{
		{"sqlite:///a.db", "postgres://x", "d", "sqlite:///a.db"},
		{"", "postgres://x", "d", "postgres://x"},
		{"", "", "/srv/pd", "sqlite:///srv/pd/policydesk.db"},
		{"", "", "", "sqlite://data/policydesk.db"},
	}
	for _, tt := range tests {
		if got := ChooseDSN(tt.flag, tt.env, tt.dir); got != tt.want {
			t.Errorf("ChooseDSN(%q, %q, %q) = %q, want %q", tt.flag, tt.env, tt.dir, got, tt.want)
		}
	}
}

func TestRedact(t *testing.T) {
	if got := redact("postgres://u:secret@h/db"); got != "postgres://u:xxxxx@h/db" {
		t.Errorf("redact = %q", got)
	}
}
