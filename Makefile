# Developer shortcuts.  `pip install .` builds the same library through
# setup.py; this Makefile is for the edit-compile-test loop and CI's
# sanitizer run.
CC      ?= gcc
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Werror=implicit-function-declaration
SRC     := $(wildcard csrc/*.c csrc/lib/*.c csrc/tables/*.c)
HDR     := $(wildcard csrc/*.h csrc/lib/*.h csrc/tables/*.h)
LIB     := osqlite/libosqlite.so

.PHONY: all schema check-schema asan test clean install install-packs

all: $(LIB)

$(LIB): $(SRC) $(HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -std=gnu11 -fPIC -shared -fvisibility=hidden \
	    -Wl,-soname,osqlite.so -Icsrc -Icsrc/lib -o $@ $(SRC) -lm -ldl

schema:
	python3 tools/gen_schema.py

check-schema:
	python3 tools/gen_schema.py --check

# The sanitizer driver links the extension sources statically (SQLITE_CORE)
# with AddressSanitizer and UndefinedBehaviorSanitizer.
build/osqlite-asan: $(SRC) $(HDR) tests/cdriver/osqlite_run.c
	@mkdir -p build
	$(CC) -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	    -fno-sanitize-recover=undefined $(WARN) -std=gnu11 -DSQLITE_CORE \
	    -Icsrc -Icsrc/lib -o $@ $(SRC) tests/cdriver/osqlite_run.c -lsqlite3 -lm -ldl -lpthread

asan: build/osqlite-asan

test: all
	python3 -m pytest -q

clean:
	rm -rf build $(LIB)

# Install as a service (as root): osqlited in its own virtualenv under
# $(PREFIX), the systemd unit, the seed's sample config (kept if one is
# there) and its pack.  Then: systemctl daemon-reload && systemctl enable --now osqlite
PREFIX  ?= /opt/osqlite
install: install-packs
	python3 -m venv $(PREFIX)
	$(PREFIX)/bin/pip install --quiet --disable-pip-version-check .
	install -D -m 0644 conf/osqlite.service /etc/systemd/system/osqlite.service
	install -d -m 0750 /var/osquery /var/log/osquery
	test -e /var/osquery/osqueryd.conf || install -m 0640 conf/osqueryd.conf /var/osquery/osqueryd.conf

# The pack the sample config names ("process-monitor": "/etc/osquery/process-monitor.conf").
install-packs:
	install -D -m 0644 conf/packs/process-monitor.conf /etc/osquery/process-monitor.conf
