"""csrc/logline.c (the daemon's row texts) under AddressSanitizer and UBSan:
hostile values (bytes that are not UTF-8, NUL, long text that grows the
buffer, every type, wrong argument counts) through build/osqlite-asan."""
from __future__ import annotations

from asan_helper import run_asan


def test_logline_functions_are_clean_under_the_sanitizers():
    long_text = "replace(hex(zeroblob(40000)), '00', 'é\"\\')"
    run_asan(None,
             "SELECT osqlite_logsig(), osqlite_logcols('\"\"')",
             "SELECT osqlite_logsig(1, 2.5, 'x', NULL, x'ff00', -0.0, 1e308 * 10, -1e308 * 10, 5e-324)",
             "SELECT osqlite_logcols('\"\"', '\"a\":', x'ff', '\"b\":', CAST(x'e282' AS TEXT), '\"c\":', NULL,"
             " '\"d\":', x'', '\"e\":', char(0, 10, 13, 127, 8232), '\"f\":', 1e308 * 10, '\"g\":', -9223372036854775808)",
             f"SELECT length(osqlite_logcols('\"\"', '\"a\":', {long_text}, '\"b\":', {long_text}))",
             "SELECT osqlite_logcols('\"\"', '\"a\":')",        # a name without a value: an error, not a crash
             "SELECT osqlite_logcols()",
             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)"
             " SELECT count(osqlite_logcols('NULL', '\"i\":', i, '\"t\":', randomblob(i % 97))) FROM n",
             # osqlite_logchunks: chunks that grow their buffers, a last short chunk, bad statements
             "SELECT n, length(keys), length(cols) FROM osqlite_logchunks('WITH RECURSIVE n(i) AS (SELECT 1"
             " UNION ALL SELECT i + 1 FROM n WHERE i < 3000) SELECT osqlite_logsig(i, 0.5 * i),"
             " osqlite_logcols(''\"\"'', ''\"i\":'', i, ''\"t\":'', randomblob(i % 300)) FROM n', 1000)",
             "SELECT * FROM osqlite_logchunks('SELECT 1, 2', 1)",
             "SELECT * FROM osqlite_logchunks('SELECT 1, 2 FROM nowhere')",
             "SELECT * FROM osqlite_logchunks('SELECT 1')",
             "SELECT * FROM osqlite_logchunks(NULL)",
             "SELECT * FROM osqlite_logchunks")
