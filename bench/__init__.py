"""`make bench`: the data generators and the measured figures of the platform.

* `bench.generate` — a realistic members data set (1,000,000 members over 70 partners,
  one of them with 200,000), loaded straight into a migrated database with bulk inserts
  (SQLite) or COPY (PostgreSQL), and the rows of the import spreadsheets.
* `bench.run` — builds the databases, times member search the way the members list page
  runs it (`members.services.search` + `db.paginate(per_page=50)` inside the partner's
  tenancy scope, so PostgreSQL Row-Level Security is part of the measurement), writes the
  query plans, times imports, and prints the tables recorded in README.md.
* `bench.import_worker` — writes the 100,000-row CSV/XLSX files and runs one import in a
  child process (rows per second, peak RSS).
* `bench.app` — the production-configured app with bench-only keys.
* `bench.cek` — the member status check under gunicorn, beside a bare Flask endpoint.

Results and generated files go to bench/results/ (not committed). Timing figures are
never asserted in the unit tests: they depend on the machine.
"""
