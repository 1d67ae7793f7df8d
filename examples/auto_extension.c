#include <stdio.h>
#include <sqlite3.h>

/* The extension's entry point, from libprometheus_sink_static.a. */
int sqlite3_prometheussink_init(sqlite3 *db, char **err, const sqlite3_api_routines *api);

static int print_row(void *unused, int n, char **values, char **names) {
  (void)unused;
  for (int i = 0; i < n; i++) printf("%s=%s%s", names[i], values[i] ? values[i] : "NULL", i + 1 < n ? " " : "\n");
  return 0;
}

int main(int argc, char **argv) {
  const char *url = argc > 1 ? argv[1] : "http://127.0.0.1:9090/api/v1/write";
  /* Every connection the program opens from now on has the extension. */
  sqlite3_auto_extension((void (*)(void))sqlite3_prometheussink_init);

  sqlite3 *db;
  if (sqlite3_open(":memory:", &db) != SQLITE_OK) return 1;
  char *sql = sqlite3_mprintf(
      "CREATE VIRTUAL TABLE temp.metrics USING prometheus_sink(url=%Q);"
      "INSERT INTO metrics(labels, value) VALUES"
      "  ('{\"__name__\":\"jobs_done_total\",\"worker\":\"a\"}', 40),"
      "  ('{\"__name__\":\"jobs_done_total\",\"worker\":\"b\"}', 2);"
      "SELECT samples_sent, requests FROM prometheus_sink_stats;",
      url);
  char *err = NULL;
  int rc = sqlite3_exec(db, sql, print_row, NULL, &err);
  if (rc != SQLITE_OK) fprintf(stderr, "%s\n", err);
  sqlite3_free(err);
  sqlite3_free(sql);
  sqlite3_close(db);
  return rc == SQLITE_OK ? 0 : 1;
}
