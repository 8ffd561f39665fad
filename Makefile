# darknet-explain — build, test and demo.
#   make deps            install Debian's packages this project needs (idempotent)
#   make                 build/libdarknet-explain.{a,so} and build/darknet-explain
#   make test            build and run the Criterion suite (FILTER='speed/*': one suite)
#   make test-fast       the quick suites only (tests/README.md)
#   make test SANITIZE=1 the same under AddressSanitizer + UBSan (separate build dir)
#   make cli-doc         docs/cli.md from the tables -h prints (a test fails when it is stale)
#   make install         PREFIX=/usr/local, DESTDIR honoured (docs/install.md); make uninstall
#   make deb             darknet-explain_<version>_<arch>.deb with Debian's tools (tools/deb/)
#   make fuzz            AFL++ on one parser (FUZZ_TARGET=cfg|weights|image|options|lists,
#                        FUZZ_SECONDS=300), then its findings (docs/fuzzing.md)

DARKNET_DIR ?= /usr/lib/darknet
DEB_PACKAGES := darknet libstb-dev libjpeg-dev libcriterion-dev libopenblas-dev libdnnl-dev python3-numpy dpkg-dev patch
DARKNET_DEB_PACKAGES := libopencv-dev
# Slurm's daemons and client (tools/slurm/, tests/test_slurm.c start a single-node Slurm) and GNU
# parallel (docs/cluster.md's way without a scheduler); without recommends (~3 MB, ~13 MB installed)
SLURM_DEB_PACKAGES := slurmctld slurmd slurm-client munge parallel
# afl++ pulls in clang: installed by `make fuzz` only
FUZZ_PACKAGES := afl++
ifneq ($(filter fuzz,$(MAKECMDGOALS)),)
DEB_PACKAGES += $(FUZZ_PACKAGES)
endif

# The Darknet the plugin is built for (plugin/backends/BACKEND*.c): pjreddie = Debian's libdarknet
# (the default), alexeyab = AlexeyAB's fork built from DARKNET_SRC (below; its own build folders),
# hankai = hank-ai's Darknet/YOLO (C++, CMake) built from DARKNET_SRC (plugin/backends/hankai.cpp).
BACKEND ?= pjreddie
ALEXEYAB_OUT := build-alexeyab/darknet
ALEXEYAB_LIB := $(ALEXEYAB_OUT)/lib/libdarknet.so
HANKAI_OUT := build-hankai/darknet
HANKAI_LIB := $(HANKAI_OUT)/lib/libdarknet.so
# hank-ai's own darknet CLI with patches/hankai/: `darknet explain` (make darknet BACKEND=hankai),
# linked against HANKAI_LIB as darknet-explain is
HANKAI_EXPLAIN := build-hankai/darknet-patched/bin/darknet
# hank-ai's Darknet builds with CMake >= 3.24 and needs OpenCV: make deps BACKEND=hankai only
HANKAI_DEB_PACKAGES := cmake libopencv-dev g++
NEEDS_HANKAI_SRC = @test -n "$(HANKAI_SRC)" || { echo "make: BACKEND=hankai needs DARKNET_SRC=/path/to/hank-ai/darknet (a checkout or a .tar.gz snapshot)" >&2; exit 2; }
NEEDS_ALEXEYAB_SRC = @test -n "$(ALEXEYAB_SRC)" || { echo "make: BACKEND=alexeyab needs DARKNET_SRC=/path/to/AlexeyAB/darknet (a checkout or a .tar.gz snapshot)" >&2; exit 2; }
ifeq ($(BACKEND),alexeyab)
DARKNET_INCLUDE := $(ALEXEYAB_OUT)/include
DARKNET_LIB := $(ALEXEYAB_OUT)/lib
BUILD_SUFFIX := -alexeyab
else ifeq ($(BACKEND),hankai)
DARKNET_INCLUDE := $(HANKAI_OUT)/include
DARKNET_LIB := $(HANKAI_OUT)/lib
BUILD_SUFFIX := -hankai
DEB_PACKAGES += $(HANKAI_DEB_PACKAGES)
else ifeq ($(BACKEND),pjreddie)
DARKNET_INCLUDE := $(DARKNET_DIR)/include
DARKNET_LIB := $(DARKNET_DIR)
BUILD_SUFFIX :=
else
$(error BACKEND=$(BACKEND): the backends are pjreddie (Debian's Darknet, the default), alexeyab and hankai)
endif

SANITIZE ?= 0
ifeq ($(SANITIZE),1)
BUILD ?= build-san$(BUILD_SUFFIX)
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD ?= build$(BUILD_SUFFIX)
SANFLAGS :=
endif

CC ?= cc
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -fPIC $(SANFLAGS)
CPPFLAGS += -Iplugin -I$(DARKNET_INCLUDE) -I/usr/include/stb
# stb before Darknet: libdarknet.so carries its own older copy of stb_image
LDLIBS := -l:libstb.a -L$(DARKNET_LIB) -ldarknet -Wl,-rpath,$(abspath $(DARKNET_LIB)) -ljpeg -lopenblas -lm -lpthread
LDFLAGS += $(SANFLAGS)

LIB_SRC := $(filter-out plugin/backends/%,$(wildcard plugin/*.c plugin/*/*.c)) \
           plugin/backends/common.c $(wildcard plugin/backends/$(BACKEND)*.c)
LIB_SRC := $(filter-out plugin/main.c,$(LIB_SRC))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
ifeq ($(BACKEND),hankai)
# the project's one C++ file: hank-ai's headers are C++ only
LIB_OBJ += $(BUILD)/plugin/backends/hankai.o
LDLIBS += -lstdc++
endif
# The shared library exports the public headers' DX_API functions only (explain.h says why;
# tests/test_api.c checks it); the static library holds the same objects, whose internal
# functions the test binary and the CLI still link.
$(LIB_OBJ): CFLAGS += -fvisibility=hidden
# The AlexeyAB backend has its own suite (tests/alexeyab/); the others are pjreddie's.
ifeq ($(BACKEND),alexeyab)
TEST_SRC := tests/helpers.c $(wildcard tests/alexeyab/*.c)
TEST_EXTRA := $(BUILD)/save-random-weights $(BUILD)/tools/shapes.o
else ifeq ($(BACKEND),hankai)
TEST_SRC := tests/helpers.c $(wildcard tests/hankai/*.c)
TEST_EXTRA := $(BUILD)/hankai-detect $(HANKAI_OUT)/bin/darknet $(HANKAI_EXPLAIN) $(BUILD)/tools/shapes.o
else
TEST_SRC := $(wildcard tests/*.c)
TEST_EXTRA := $(BUILD)/tools/shapes.o $(BUILD)/tools/shape_features.o $(BUILD)/tools/concept_sets.o $(BUILD)/tools/shapes_concepts.o $(BUILD)/tests/fuzz/targets.o
endif
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)
HEADERS := $(wildcard plugin/*.h plugin/*/*.h tests/*.h tests/fuzz/*.h tools/*.h)

# explain.h's DX_VERSION: the shared library's name and soname, the .pc, the man page, the .deb
VERSION := $(shell sed -n 's/.*define DX_VERSION "\(.*\)"/\1/p' plugin/explain.h)
SONAME := libdarknet-explain.so.$(firstword $(subst ., ,$(VERSION)))

STATIC_LIB := $(BUILD)/libdarknet-explain.a
GEN := $(BUILD)/gen-shapes
SHARED_REAL := $(BUILD)/libdarknet-explain.so.$(VERSION)
SHARED_LIB := $(BUILD)/libdarknet-explain.so
GEN_MAN := $(BUILD)/gen-man
MAN_PAGE := $(BUILD)/darknet-explain.1
GEN_CLI_DOC := $(BUILD)/gen-cli-doc
CLI := $(BUILD)/darknet-explain
TEST_BIN := $(BUILD)/tests/run-tests

.PHONY: gen-concepts all deps deps-peers fuzz fuzz-build deps-darknet deps-slurm test faults clean readme-figure bench bench-blas bench-onednn bench-peers bench-backends bench-gradient bench-methods bench-perturbation darknet demo models benchmark-gt install uninstall deb man cli-doc test-fast
all: $(STATIC_LIB) $(SHARED_LIB) $(BUILD)/$(SONAME) $(CLI)

# $(call install_missing,PACKAGES[,APT_OPTIONS]): apt-get installs those of PACKAGES that are not
# installed.
define install_missing
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(2) $$missing >/dev/null; \
	else echo "$@: all of $(1) are installed"; fi
endef

deps:
	$(call install_missing,$(DEB_PACKAGES))

# Only make darknet needs these (tools/build-darknet.sh runs this when OpenCV is missing):
# Debian builds its darknet with OpenCV, ./darknet too. libopencv-dev is large (~80 MB).
deps-darknet:
	$(call install_missing,$(DARKNET_DEB_PACKAGES))

# Only the cluster tests need these (they skip without them). They start their own daemons with
# their own config; with systemd, Debian also enables munge.service and slurm*.service.
deps-slurm:
	$(call install_missing,$(SLURM_DEB_PACKAGES),--no-install-recommends)

$(BUILD)/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

# The static library holds the stb objects it uses (from Debian's libstb.a), as the shared one
# does: a program linking it gets this stb, not the older copy inside libdarknet.so, whatever
# the order of its -l flags (pkg-config --static puts Libs.private last).
STB_OBJ := $(BUILD)/stb/stb_image.o $(BUILD)/stb/stb_image_write.o
$(STB_OBJ):
	@mkdir -p $(dir $@)
	cd $(dir $@) && ar x $(shell $(CC) -print-file-name=libstb.a) $(notdir $@)

$(STATIC_LIB): $(LIB_OBJ) $(STB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(SHARED_REAL): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,$(SONAME) -o $@ $^ $(LDFLAGS) -Wl,--exclude-libs,libstb.a $(LDLIBS)

# the soname link (what programs load) and the development link (what -ldarknet-explain finds)
$(BUILD)/$(SONAME) $(SHARED_LIB): $(SHARED_REAL)
	ln -sf $(notdir $<) $@

$(CLI): $(BUILD)/plugin/main.o $(STATIC_LIB)
	$(CC) -o $@ $^ $(LDFLAGS) $(LDLIBS)

# tests/fuzz/targets.c: the fuzz harnesses' bodies, which the corpus replay runs too
$(TEST_BIN): $(TEST_OBJ) $(filter %.o,$(TEST_EXTRA)) $(STATIC_LIB) | $(filter-out %.o,$(TEST_EXTRA))
	@mkdir -p $(dir $@)
	$(CC) -o $@ $(filter %.o %.a,$^) $(LDFLAGS) -lcriterion $(LDLIBS)

# Tests find the CLI, the project root, the shared library and Debian's python3 (with
# python3-numpy; the python suite) through the environment; tests/test_install.c runs DX_MAKE's
# install/uninstall/deb (on what this build made).
PYTHON ?= /usr/bin/python3
test: $(TEST_BIN) all $(GEN) $(MAN_PAGE) $(GEN_CLI_DOC)
	DX_CLI=$(abspath $(CLI)) DX_ROOT=$(CURDIR) DX_CC="$(CC)" DX_CFLAGS="$(CPPFLAGS) $(CFLAGS)" \
	  DX_LIB=$(abspath $(SHARED_LIB)) DX_PYTHON=$(PYTHON) \
	  DX_MAKE="$(MAKE) --no-print-directory -C $(CURDIR) BUILD=$(BUILD) SANITIZE=$(SANITIZE)" \
	  DX_LDFLAGS="$(abspath $(STATIC_LIB)) $(LDFLAGS) $(LDLIBS)" \
	  DX_AB_CFG=$(abspath $(ALEXEYAB_OUT)/src/cfg) DX_AB_WEIGHTS_TOOL=$(abspath $(BUILD)/save-random-weights) \
	  DX_HK_CFG=$(abspath $(HANKAI_OUT)/src/cfg) DX_HK_DETECT=$(abspath $(BUILD)/hankai-detect) \
	  DX_AB_CLI=$(abspath build-alexeyab/darknet-explain) \
	  DX_PJ_CLI=$(abspath build/darknet-explain) \
	  ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	  $(TEST_BIN) -j2 --short-filename $(if $(FILTER),--filter '$(FILTER)')

# The suites that check units rather than runs (about 45 s of CPU here, against minutes for the
# whole suite): layers and the reverse pass, hooks, cfg checks, I/O, rendering, LRP, CAM,
# incremental inference, the docs.
FAST_SUITES := layer|network|hooks|cfg_check|model|nonfinite|npy|json|png|colormap|render|labels|atomic|docs|api|lrp|cam|incremental
test-fast:
	$(MAKE) --no-print-directory test FILTER='@($(FAST_SUITES))/*'

# ./darknet with `darknet explain` (patches/ applied to Debian's darknet source package, or to
# DARKNET_SRC), with OpenCV as Debian's own build; DARKNET_FLAGS go to Darknet's own make, e.g.
# DARKNET_FLAGS="GPU=1 CUDNN=1" or "OPENCV=0".
DARKNET_SRC ?=
DARKNET_FLAGS ?=
ifeq ($(BACKEND),alexeyab)
darknet:
	$(NEEDS_ALEXEYAB_SRC)
	tools/build-alexeyab.sh --explain "$(ALEXEYAB_SRC)" build-alexeyab/darknet-patched $(DARKNET_FLAGS)
	ln -sf build-alexeyab/darknet-patched/bin/darknet darknet-alexeyab
else ifeq ($(BACKEND),hankai)
darknet: $(HANKAI_EXPLAIN)
	ln -sf $(HANKAI_EXPLAIN) darknet-hankai
# rebuilt (incrementally, by the fork's CMake) when the plugin or the patches change
$(HANKAI_EXPLAIN): $(LIB_SRC) plugin/backends/hankai.cpp $(HEADERS) $(wildcard patches/hankai/*.patch) $(HANKAI_LIB)
	$(NEEDS_HANKAI_SRC)
	DX_BUILD_JOBS=$(or $(DARKNET_JOBS),$(shell nproc)) tools/build-hankai.sh --explain "$(HANKAI_SRC)" $(dir $(@D)) \
	  -DDARKNET_EXPLAIN_LIB=$(abspath $(HANKAI_LIB)) $(DARKNET_FLAGS)
	touch $@
else
darknet:
	tools/build-darknet.sh "$(DARKNET_SRC)" $(DARKNET_FLAGS)
endif

# AlexeyAB's Darknet for BACKEND=alexeyab: tools/build-alexeyab.sh builds it from DARKNET_SRC (a
# checkout of AlexeyAB/darknet, or a .tar.gz snapshot such as
# ../shared/darknet-forks/alexeyab-59596d78.tar.gz) with the fork's own Makefile (LIBSO=1 OPENCV=0
# AVX=1 OPENMP=1, then DARKNET_FLAGS) into ALEXEYAB_OUT: lib/libdarknet.so, include/darknet.h,
# bin/darknet. `make darknet-lib BACKEND=alexeyab` rebuilds what changed.
ifeq ($(BACKEND),alexeyab)
$(LIB_OBJ) $(TEST_OBJ) $(BUILD)/plugin/main.o $(patsubst %.c,$(BUILD)/%.o,$(wildcard tools/*.c)): | $(ALEXEYAB_LIB)
.PHONY: darknet-lib
# the pinned snapshot (../shared/darknet-forks) when DARKNET_SRC is not given
ALEXEYAB_SRC := $(or $(DARKNET_SRC),$(wildcard ../shared/darknet-forks/alexeyab-59596d78.tar.gz))
$(ALEXEYAB_LIB) darknet-lib:
	$(NEEDS_ALEXEYAB_SRC)
	tools/build-alexeyab.sh "$(ALEXEYAB_SRC)" $(ALEXEYAB_OUT) $(DARKNET_FLAGS)

# Random weights for any of the fork's cfgs, written by its own save_weights (tests, parity).
$(BUILD)/save-random-weights: tools/alexeyab/save-random-weights.c $(ALEXEYAB_LIB)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -I$(ALEXEYAB_OUT)/include -o $@ $< \
	  -L$(ALEXEYAB_OUT)/lib -ldarknet -Wl,-rpath,$(abspath $(ALEXEYAB_OUT)/lib) -lm
endif

# hank-ai's Darknet/YOLO for BACKEND=hankai: tools/build-hankai.sh builds its libdarknet.so from
# DARKNET_SRC (a checkout of hank-ai/darknet with its .git, or a .tar.gz snapshot such as
# ../shared/darknet-forks/hankai-f684e1d7.tar.gz) with the fork's own CMake (Release, no CUDA, no
# ROCm; DARKNET_FLAGS: more CMake arguments, e.g. -DDARKNET_TRY_CUDA=ON) into HANKAI_OUT:
# lib/libdarknet.so, include/darknet.h, src/src-lib/ (the headers hankai.cpp includes).
ifeq ($(BACKEND),hankai)
$(LIB_OBJ) $(TEST_OBJ) $(BUILD)/plugin/main.o $(patsubst %.c,$(BUILD)/%.o,$(wildcard tools/*.c)): | $(HANKAI_LIB)
.PHONY: darknet-lib
HANKAI_SRC := $(or $(DARKNET_SRC),$(wildcard ../shared/darknet-forks/hankai-f684e1d7.tar.gz))
$(HANKAI_LIB) darknet-lib:
	$(NEEDS_HANKAI_SRC)
	DX_BUILD_JOBS=$(or $(DARKNET_JOBS),$(shell nproc)) tools/build-hankai.sh "$(HANKAI_SRC)" $(HANKAI_OUT) $(DARKNET_FLAGS)
# the fork's own CLI, built beside the library (a tree built before it was: one incremental run)
$(HANKAI_OUT)/bin/darknet: | $(HANKAI_LIB)
	DX_BUILD_JOBS=$(or $(DARKNET_JOBS),$(shell nproc)) tools/build-hankai.sh "$(HANKAI_SRC)" $(HANKAI_OUT) $(DARKNET_FLAGS)

CXX ?= g++
HANKAI_CXXFLAGS := -std=c++17 -O2 -g -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -fPIC \
  -I$(HANKAI_OUT)/src/src-lib $(shell pkg-config --cflags opencv4 2>/dev/null) $(SANFLAGS)
$(BUILD)/plugin/backends/hankai.o: plugin/backends/hankai.cpp $(HEADERS) | $(HANKAI_LIB)
	@mkdir -p $(dir $@)
	$(CXX) -Iplugin $(HANKAI_CXXFLAGS) -fvisibility=hidden -c $< -o $@

# The fork's own detection (its loader, forward, get_network_boxes and NMS) for the parity tests.
$(BUILD)/hankai-detect: tools/hankai/detect.cpp $(HANKAI_LIB)
	$(CXX) $(HANKAI_CXXFLAGS) -o $@ $< -L$(HANKAI_OUT)/lib -ldarknet -Wl,-rpath,$(abspath $(HANKAI_OUT)/lib)
endif

# AFL++ (docs/fuzzing.md): the harness build-fuzz/dx-fuzz is the library and tests/fuzz/ built
# with afl-clang-fast (afl-cc, afl-gcc-fast) under ASan + UBSan; `make fuzz` runs FUZZ_TARGET for
# FUZZ_SECONDS at nice 19 from its seeds (resuming build-fuzz/out/TARGET when it exists) and
# prints the findings. `make test` replays every corpus file (tests/test_fuzz_replay.c).
FUZZ_BUILD := build-fuzz
FUZZ_TARGET ?= cfg
FUZZ_SECONDS ?= 300
FUZZ_CC = $(shell command -v afl-clang-fast || command -v afl-cc || command -v afl-gcc-fast)
# the cfg checker's per-layer budget in the harness: 64 MiB instead of 4 GiB (docs/fuzzing.md)
FUZZ_CFLAGS := -O1 -g -Wno-missing-field-initializers -DDX_LAYER_MAX_BYTES=67108864.0

$(BUILD)/tests/fuzz/stb_image.o: CFLAGS += -w
$(BUILD)/tests/fuzz/afl_main.o: CPPFLAGS += -DDX_FUZZ_ROOT='"$(CURDIR)"'
$(BUILD)/dx-fuzz: $(BUILD)/tests/fuzz/afl_main.o $(BUILD)/tests/fuzz/targets.o $(BUILD)/tests/fuzz/stb_image.o \
                  $(STATIC_LIB)
	$(CC) -o $@ $^ $(LDFLAGS) $(LDLIBS)

fuzz-build:
	@test -n "$(FUZZ_CC)" || { echo "fuzz: no afl-clang-fast, afl-cc or afl-gcc-fast (make fuzz installs afl++)"; exit 1; }
	CFLAGS="$(FUZZ_CFLAGS)" $(MAKE) BUILD=$(FUZZ_BUILD) SANITIZE=1 CC="$(FUZZ_CC)" $(FUZZ_BUILD)/dx-fuzz

fuzz: deps
	$(MAKE) fuzz-build
	tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_TARGET) $(FUZZ_SECONDS)

clean:
	rm -rf build build-san build-fuzz build-alexeyab build-san-alexeyab build-hankai build-san-hankai $(DEB_BUILD) darknet-src darknet darknet-alexeyab darknet-hankai darknet-explain_*.deb

# The man page, written by tools/man.c from the tables -h prints; dated by SOURCE_DATE_EPOCH, else
# the last commit (make deb sets it from tools/deb/changelog), so a rebuild gives the same page.
MAN_DATE = $(shell date -u -d @$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct 2>/dev/null || date +%s)} +%Y-%m-%d)
$(GEN_MAN): $(BUILD)/tools/man.o $(STATIC_LIB)
	$(CC) -o $@ $^ $(LDFLAGS) $(LDLIBS)
$(MAN_PAGE): $(GEN_MAN)
	$(GEN_MAN) "$(MAN_DATE)" > $@.part && mv $@.part $@
man: $(MAN_PAGE)

# docs/cli.md, written by tools/cli_doc.c from the same tables; committed, and tests/test_docs.c
# compares it with the generator's output (beside the CLI: $(GEN_CLI_DOC)).
$(GEN_CLI_DOC): $(BUILD)/tools/cli_doc.o $(STATIC_LIB)
	$(CC) -o $@ $^ $(LDFLAGS) $(LDLIBS)
cli-doc: $(GEN_CLI_DOC)
	$(GEN_CLI_DOC) > docs/cli.md.part && mv docs/cli.md.part docs/cli.md

# make install [PREFIX=/usr/local] [DESTDIR=/stage]: the program, both libraries (the shared one
# with its soname and development links), the public headers in include/darknet-explain/ (as
# the sources include them: explain.h, eval/eval.h), darknet-explain.pc, the man page and the
# README. make uninstall (same PREFIX, DESTDIR) removes exactly INSTALLED.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/darknet-explain
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
PUBLIC_HEADERS := explain.h eval/eval.h
INSTALLED = $(BINDIR)/darknet-explain $(LIBDIR)/libdarknet-explain.a $(LIBDIR)/$(notdir $(SHARED_REAL)) \
  $(LIBDIR)/$(SONAME) $(LIBDIR)/libdarknet-explain.so $(PUBLIC_HEADERS:%=$(INCLUDEDIR)/darknet-explain/%) \
  $(PKGCONFIGDIR)/darknet-explain.pc $(MANDIR)/man1/darknet-explain.1 $(DOCDIR)/README.md
# the running system's linker cache, when installing into it as root
LDCONFIG = if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then ldconfig; fi

install: all $(MAN_PAGE)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/darknet-explain/eval \
	  $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(DOCDIR)
	install -m 755 $(CLI) $(DESTDIR)$(BINDIR)/darknet-explain
	install -m 644 $(STATIC_LIB) $(SHARED_REAL) $(DESTDIR)$(LIBDIR)/
	ln -sf $(notdir $(SHARED_REAL)) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(notdir $(SHARED_REAL)) $(DESTDIR)$(LIBDIR)/libdarknet-explain.so
	for h in $(PUBLIC_HEADERS); do install -m 644 plugin/$$h $(DESTDIR)$(INCLUDEDIR)/darknet-explain/$$h || exit 1; done
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))|' \
	  -e 's|@INCLUDEDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))|' -e 's|@DARKNET_DIR@|$(DARKNET_DIR)|' \
	  -e 's|@VERSION@|$(VERSION)|' tools/darknet-explain.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/darknet-explain.pc
	install -m 644 $(MAN_PAGE) $(DESTDIR)$(MANDIR)/man1/darknet-explain.1
	install -m 644 README.md $(DESTDIR)$(DOCDIR)/README.md
	@$(LDCONFIG)

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	@for d in $(DESTDIR)$(INCLUDEDIR)/darknet-explain/eval $(DESTDIR)$(INCLUDEDIR)/darknet-explain $(DESTDIR)$(DOCDIR); do \
	  if [ -d $$d ]; then rmdir $$d || exit 1; fi; done
	@$(LDCONFIG)

# make deb [DEB_DIR=.]: darknet-explain_<version>_<arch>.deb in DEB_DIR, built in DEB_BUILD with
# Debian's build flags and tools (tools/deb/build.sh: dpkg-buildflags, make install,
# dpkg-shlibdeps, dpkg-deb).
DEB_BUILD := build-deb
DEB_DIR ?= .
deb:
	MAKE="$(MAKE)" tools/deb/build.sh $(DEB_BUILD) $(VERSION) $(DEB_DIR)

readme-figure: $(CLI)
	tools/readme-figure.sh

BENCH := $(BUILD)/bench
$(BENCH): $(BUILD)/tools/bench.o $(STATIC_LIB)
	$(CC) -o $@ $^ $(LDFLAGS) $(LDLIBS)

# Forward with Darknet's gemm / BLAS / grouped stand-ins, explaining cost as multiples of a
# forward, batched scoring, peak memory on the real models in ../shared (see tools/bench.c);
# appends to $(BUILD)/bench.csv. BENCH_ROUNDS: runs per median; BENCH_LAYERS=1: per-layer GFLOP/s.
BENCH_ROUNDS ?= 9
bench: $(BENCH)
	@for m in imagenet/tiny coco/yolo-fastest-1.1 coco/yolo-fastest-1.1-xl; do \
	  nice $(BENCH) ../shared/models/$$m.cfg ../shared/models/$$m.weights $(BENCH_ROUNDS) $(BUILD)/bench.csv || exit 1; done

# OpenBLAS's kernel and threads (tools/bench-settings.sh): the forward and Grad-CAM of Tiny Darknet,
# darknet19 and yolov3-tiny (random weights in $(BUILD)/bench-blas) with Debian's OpenBLAS's own
# kernel choice ("old", what it picks on a CPU it does not know), the command's, and its 1-thread
# and short-spin variants, alternately.
RANDOM_WEIGHTS := $(BUILD)/random-weights
$(RANDOM_WEIGHTS): $(BUILD)/tools/random_weights.o
	$(CC) -o $@ $^ $(LDFLAGS) $(LDLIBS)
bench-blas: $(BENCH) $(RANDOM_WEIGHTS)
	tools/bench-settings.sh $(BENCH) $(RANDOM_WEIGHTS) $(BUILD)/bench-blas $(or $(BENCH_ROUNDS_BLAS),5) 5 \
	  "../shared/models/imagenet/tiny darknet19:224 yolov3-tiny:416" \
	  "old=OPENBLAS_CORETYPE=Prescott new=BENCH_DEFAULT=1 new_1thread=OPENBLAS_NUM_THREADS=1 new_timeout4=OPENBLAS_THREAD_TIMEOUT=4"

# oneDNN's convolutions (DX_ONEDNN=1: their forward and backward-data) against Darknet's forward and
# the BLAS backward (DX_ONEDNN=0), and OpenMP's threads (tools/bench-settings.sh): resnet18,
# darknet19 at 224, yolov3-tiny at 416, random weights
bench-onednn: $(BENCH) $(RANDOM_WEIGHTS)
	nice tools/bench-settings.sh $(BENCH) $(RANDOM_WEIGHTS) $(BUILD)/bench-onednn $(or $(BENCH_ROUNDS_ONEDNN),5) 5 \
	  "resnet18:224 darknet19:224 yolov3-tiny:416" \
	  "darknet=DX_ONEDNN=0 onednn=DX_ONEDNN=1 onednn_omp2=DX_ONEDNN=1,OMP_NUM_THREADS=2"

# The forward and Grad-CAM per backend, alternately in one run (tools/bench_backend.c): Debian's
# Darknet and AlexeyAB's (built from DARKNET_SRC or ../shared's snapshot) on the same cfgs and
# weights, BENCH_ROUNDS each time, three times.
$(BUILD)/bench-backend: $(BUILD)/tools/bench_backend.o $(STATIC_LIB)
	$(CC) -o $@ $^ $(LDFLAGS) $(LDLIBS)
BENCH_BACKEND_MODELS ?= imagenet/tiny coco/yolo-fastest-1.1 coco/yolo-fastest-1.1-xl
bench-backends:
	$(MAKE) --no-print-directory BACKEND=pjreddie build/bench-backend
	$(MAKE) --no-print-directory BACKEND=alexeyab build-alexeyab/bench-backend
	@for round in 1 2 3; do for m in $(BENCH_BACKEND_MODELS); do for b in build build-alexeyab; do \
	  nice $$b/bench-backend ../shared/models/$$m.cfg ../shared/models/$$m.weights $(BENCH_ROUNDS) || exit 1; \
	done; done; done

# darknet-explain against the PyTorch peers (tools/bench_peers.py, docs/benchmarks.md): forward,
# Grad-CAM (pytorch-grad-cam), saliency, IG and SmoothGrad (Captum), LRP (Zennit) on resnet18, darknet19 and
# yolov3-tiny, the same cfgs and random weights on both sides, alternating runs. Needs Debian's
# python3-torch and the Python packages the peers import (make deps-peers installs them) and the
# peers' sources (importable, or git mirrors under BENCH_PEERS_MIRROR); says what is missing and
# measures the rest. BENCH_PEERS_RUNS runs per median; BENCH_PEERS_MODELS,
# BENCH_PEERS_METHODS: comma-separated subsets; BENCH_PEERS_THREADS threads each side.
deps-peers:
	$(call install_missing,python3-torch python3-torchvision python3-opencv python3-scipy python3-tqdm python3-matplotlib python3-sklearn)
BENCH_PEERS_RUNS ?= 3
BENCH_PEERS_THREADS ?= 1
BENCH_PEERS_MIRROR ?= ../.mirror
bench-peers: $(SHARED_LIB) $(RANDOM_WEIGHTS)
	DX_LIB=$(abspath $(SHARED_LIB)) nice $(PYTHON) tools/bench_peers.py --runs $(BENCH_PEERS_RUNS) \
	  --threads $(BENCH_PEERS_THREADS) --workdir $(BUILD)/bench-peers --peers-src $(BUILD)/bench-peers/src \
	  --mirror $(BENCH_PEERS_MIRROR) --random-weights $(RANDOM_WEIGHTS) \
	  $(if $(BENCH_PEERS_MODELS),--models $(BENCH_PEERS_MODELS)) $(if $(BENCH_PEERS_METHODS),--methods $(BENCH_PEERS_METHODS))

BENCH_GRADIENT := $(BUILD)/bench-gradient
$(BENCH_GRADIENT): $(BUILD)/tools/bench_gradient.o $(STATIC_LIB)
	$(CC) -o $@ $^ $(LDFLAGS) $(LDLIBS)

# Each gradient-family method's cost as a ratio to one forward, on the classifiers in ../shared.
bench-gradient: $(BENCH_GRADIENT)
	@$(BENCH_GRADIENT) ../shared/models/imagenet/tiny.cfg ../shared/models/imagenet/tiny.weights ../shared/images/dog.jpg 2>/dev/null
	@$(BENCH_GRADIENT) ../shared/models/mnist/mnist_lenet.cfg ../shared/models/mnist/mnist_lenet.weights \
	  ../shared/models/mnist/images/t_00000_c5.png 2>/dev/null
BENCH_METHODS := $(BUILD)/bench-methods
$(BENCH_METHODS): $(BUILD)/tools/bench_methods.o $(STATIC_LIB)
	$(CC) -o $@ $^ $(LDFLAGS) $(LDLIBS)

# Each CAM method's time as a ratio to one forward (see tools/bench_methods.c): Tiny Darknet, and
# the Yolo-Fastest detectors on their first box.
bench-methods: $(BENCH_METHODS)
	@$(BENCH_METHODS) ../shared/models/imagenet/tiny.cfg ../shared/models/imagenet/tiny.weights \
	  ../shared/images/dog.jpg 3 2>/dev/null
	@for m in yolo-fastest-1.1 yolo-fastest-1.1-xl; do $(BENCH_METHODS) ../shared/models/coco/$$m.cfg \
	  ../shared/models/coco/$$m.weights ../shared/images/dog.jpg 3 2>/dev/null; done

# The embedded models (cfg/shapes-*): synthetic shapes (tools/gen_shapes.c), trained by Darknet.
$(GEN): $(BUILD)/tools/gen_shapes.o $(BUILD)/tools/shapes.o $(BUILD)/tools/shapes_concepts.o $(STATIC_LIB)
	$(CC) -o $@ $^ $(LDFLAGS) $(LDLIBS)

# Concept sets with the truth planted (tools/concept_sets.h), for `darknet-explain tcav`.
GEN_CONCEPTS := $(BUILD)/gen-concepts
$(GEN_CONCEPTS): $(BUILD)/tools/gen_concepts.o $(BUILD)/tools/concept_sets.o $(BUILD)/tools/shapes.o $(STATIC_LIB)
	$(CC) -o $@ $^ $(LDFLAGS) $(LDLIBS)
gen-concepts: $(GEN_CONCEPTS)

# Retrains cfg/shapes-classifier.weights and cfg/shapes-detector.weights with Debian's Darknet
# (CPU); with BACKEND=alexeyab, cfg/shapes-detector-v4tiny.weights with the fork's own darknet
# detector train, built with patches/alexeyab-train (its CPU training is broken without them).
ifeq ($(BACKEND),alexeyab)
models: $(GEN)
	$(NEEDS_ALEXEYAB_SRC)
	tools/build-alexeyab.sh --train "$(ALEXEYAB_SRC)" build-alexeyab/darknet-train $(DARKNET_FLAGS)
	tools/train-models.sh $(GEN) $(BUILD)/shapes-train build-alexeyab/darknet-train/bin/darknet
else
models: $(GEN)
	tools/train-models.sh $(GEN) $(BUILD)/shapes-train
endif

# TCAV's concept x class scores against the concept sets' planted truth (tools/gt_tcav.c).
GT_TCAV := $(BUILD)/gt-tcav
$(GT_TCAV): $(BUILD)/tools/gt_tcav.o $(BUILD)/tools/concept_sets.o $(BUILD)/tools/shapes.o $(STATIC_LIB)
	$(CC) -o $@ $^ $(LDFLAGS) $(LDLIBS)

# Pointing game and energy-in-box of every method on generated images with known boxes.
BENCH_GT := $(BUILD)/benchmark-gt
BENCH_GT_N ?= 60
BENCH_GT_DETECTOR_N ?= 30
$(BENCH_GT): $(BUILD)/tools/benchmark_gt.o $(BUILD)/tools/shapes.o $(STATIC_LIB)
	$(CC) -o $@ $^ $(LDFLAGS) $(LDLIBS)

# the global surrogate's ground truth (tools/gt_distill.c)
GT_DISTILL := $(BUILD)/gt-distill
GT_DISTILL_N ?= 600
$(GT_DISTILL): $(BUILD)/tools/gt_distill.o $(BUILD)/tools/shape_features.o $(BUILD)/tools/shapes.o $(STATIC_LIB)
	$(CC) -o $@ $^ $(LDFLAGS) $(LDLIBS)

# activation maximisation's ground truth (tools/gt_visualize.c)
GT_VISUALIZE := $(BUILD)/gt-visualize
GT_VISUALIZE_SEEDS ?= 5
$(GT_VISUALIZE): $(BUILD)/tools/gt_visualize.o $(STATIC_LIB)
	$(CC) -o $@ $^ $(LDFLAGS) $(LDLIBS)

# network dissection's ground truth (tools/gt_dissect.c)
GT_DISSECT := $(BUILD)/gt-dissect
GT_DISSECT_N ?= 200
$(GT_DISSECT): $(BUILD)/tools/gt_dissect.o $(BUILD)/tools/shapes.o $(BUILD)/tools/shapes_concepts.o $(STATIC_LIB)
	$(CC) -o $@ $^ $(LDFLAGS) $(LDLIBS)

# counterfactuals' ground truth (tools/gt_counterfactual.c)
GT_COUNTERFACTUAL := $(BUILD)/gt-counterfactual
$(GT_COUNTERFACTUAL): $(BUILD)/tools/gt_counterfactual.o $(BUILD)/tools/shapes.o $(STATIC_LIB)
	$(CC) -o $@ $^ $(LDFLAGS) $(LDLIBS)

benchmark-gt: $(BENCH_GT) $(GT_DISTILL) $(GT_VISUALIZE) $(GT_TCAV) $(GT_DISSECT) $(GT_COUNTERFACTUAL)
	$(BENCH_GT) cfg/shapes-classifier.cfg cfg/shapes-classifier.weights $(BENCH_GT_N) 2
	@echo
	$(BENCH_GT) cfg/shapes-detector.cfg cfg/shapes-detector.weights $(BENCH_GT_DETECTOR_N) 4
	@echo
	$(GT_DISTILL) cfg/shapes-classifier.cfg cfg/shapes-classifier.weights $(GT_DISTILL_N)
	@echo
	$(GT_DISTILL) cfg/shapes-detector.cfg cfg/shapes-detector.weights $(GT_DISTILL_N)
	@echo
	$(GT_VISUALIZE) cfg/shapes-classifier.cfg cfg/shapes-classifier.weights $(GT_VISUALIZE_SEEDS) cfg/shapes-classifier.data
	@echo
	$(GT_TCAV) cfg/shapes-classifier.cfg cfg/shapes-classifier.weights cfg/shapes.names
	@echo
	$(GT_DISSECT) cfg/shapes-classifier.cfg cfg/shapes-classifier.weights $(GT_DISSECT_N) 2 4,9,15,16,17 17
	@echo
	$(GT_DISSECT) cfg/shapes-detector.cfg cfg/shapes-detector.weights $(GT_DISSECT_N) 4 9,13,15,16
	@echo
	$(GT_COUNTERFACTUAL) cfg/shapes-classifier.cfg cfg/shapes-classifier.weights $(BENCH_GT_N) 2
	$(GT_COUNTERFACTUAL) cfg/shapes-detector.cfg cfg/shapes-detector.weights $(BENCH_GT_DETECTOR_N) 4
# The detector, per detection: the lead's step once methods take per-box targets.

# The fault table of docs/faults.md: bad inputs and hostile conditions, what the program does.
faults: all $(GEN)
	tools/faults.sh $(BUILD)

# Installs what is missing, builds, explains the embedded models on generated images: demo/*.png
demo: deps
	$(MAKE) all $(GEN)
	tools/demo.sh $(BUILD)
BENCH_SCORING := $(BUILD)/bench-scoring
$(BENCH_SCORING): $(BUILD)/tools/bench_scoring.o $(STATIC_LIB)
	$(CC) -o $@ $^ $(LDFLAGS) $(LDLIBS)

BENCH_PERTURB := $(BUILD)/bench-perturbation
$(BENCH_PERTURB): $(BUILD)/tools/bench_perturbation.o $(STATIC_LIB)
	$(CC) -o $@ $^ $(LDFLAGS) $(LDLIBS)

# Occlusion (incremental and by full forwards), RISE, LIME, KernelSHAP at their defaults on
# dog.jpg, as CSV: Tiny Darknet, and Yolo-Fastest 1.1 on its first box.
bench-perturbation: $(BENCH_PERTURB)
	@$(BENCH_PERTURB) ../shared/models/imagenet/tiny.cfg ../shared/models/imagenet/tiny.weights \
	  /usr/share/darknet/data/dog.jpg 2>/dev/null
	@$(BENCH_PERTURB) ../shared/models/coco/yolo-fastest-1.1.cfg ../shared/models/coco/yolo-fastest-1.1.weights \
	  /usr/share/darknet/data/dog.jpg 2>/dev/null | tail -n +2
