# darknet-explain — build, test and demo.
#   make deps            install Debian's packages this project needs (idempotent)
#   make                 build/libdarknet-explain.{a,so} and build/darknet-explain
#   make test            build and run the Criterion suite
#   make test SANITIZE=1 the same under AddressSanitizer + UBSan (separate build dir)
#   make fuzz            AFL++ on one parser (FUZZ_TARGET=cfg|weights|image|options|lists,
#                        FUZZ_SECONDS=300), then its findings (docs/fuzzing.md)

DARKNET_DIR ?= /usr/lib/darknet
DEB_PACKAGES := darknet libstb-dev libcriterion-dev libopenblas-dev python3-numpy dpkg-dev patch
# afl++ pulls in clang: installed by `make fuzz` only
FUZZ_PACKAGES := afl++
ifneq ($(filter fuzz,$(MAKECMDGOALS)),)
DEB_PACKAGES += $(FUZZ_PACKAGES)
endif

SANITIZE ?= 0
ifeq ($(SANITIZE),1)
BUILD ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD ?= build
SANFLAGS :=
endif

CC ?= cc
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -fPIC $(SANFLAGS)
CPPFLAGS += -Iplugin -I$(DARKNET_DIR)/include -I/usr/include/stb
# stb before Darknet: libdarknet.so carries its own older copy of stb_image
LDLIBS := -l:libstb.a -L$(DARKNET_DIR) -ldarknet -Wl,-rpath,$(DARKNET_DIR) -lopenblas -lm -lpthread
LDFLAGS += $(SANFLAGS)

LIB_SRC := $(wildcard plugin/*.c plugin/layers/*.c plugin/methods/*.c plugin/io/*.c plugin/lrp/*.c plugin/eval/*.c)
LIB_SRC := $(filter-out plugin/main.c,$(LIB_SRC))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/*.c)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)
HEADERS := $(wildcard plugin/*.h plugin/*/*.h tests/*.h tests/fuzz/*.h tools/*.h)

STATIC_LIB := $(BUILD)/libdarknet-explain.a
GEN := $(BUILD)/gen-shapes
SHARED_LIB := $(BUILD)/libdarknet-explain.so
CLI := $(BUILD)/darknet-explain
TEST_BIN := $(BUILD)/tests/run-tests

.PHONY: all deps test fuzz fuzz-build clean readme-figure bench bench-gradient bench-methods bench-perturbation darknet demo models benchmark-gt
all: $(STATIC_LIB) $(SHARED_LIB) $(CLI)

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	else echo "deps: all of $(DEB_PACKAGES) are installed"; fi

$(BUILD)/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(STATIC_LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(SHARED_LIB): $(LIB_OBJ)
	$(CC) -shared -o $@ $^ $(LDFLAGS) -Wl,--exclude-libs,libstb.a $(LDLIBS)

$(CLI): $(BUILD)/plugin/main.o $(STATIC_LIB)
	$(CC) -o $@ $^ $(LDFLAGS) $(LDLIBS)

# tests/fuzz/targets.c: the fuzz harnesses' bodies, which the corpus replay runs too
$(TEST_BIN): $(TEST_OBJ) $(BUILD)/tools/shapes.o $(BUILD)/tests/fuzz/targets.o $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDFLAGS) -lcriterion $(LDLIBS)

# Tests find the CLI and the project root through the environment.
test: $(TEST_BIN) $(CLI) $(SHARED_LIB) $(GEN)
	DX_CLI=$(abspath $(CLI)) DX_ROOT=$(CURDIR) DX_CC="$(CC)" DX_CFLAGS="$(CPPFLAGS) $(CFLAGS)" \
	  DX_LDFLAGS="$(abspath $(STATIC_LIB)) $(LDFLAGS) $(LDLIBS)" \
	  ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	  $(TEST_BIN) -j2 --short-filename

# ./darknet with `darknet explain` (patches/ applied to Debian's darknet source package, or to
# DARKNET_SRC); DARKNET_FLAGS go to Darknet's own make, e.g. DARKNET_FLAGS="GPU=1 CUDNN=1".
DARKNET_SRC ?=
DARKNET_FLAGS ?=
darknet:
	tools/build-darknet.sh "$(DARKNET_SRC)" $(DARKNET_FLAGS)

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
	rm -rf build build-san build-fuzz darknet-src darknet

readme-figure: $(CLI)
	tools/readme-figure.sh

BENCH := $(BUILD)/bench
$(BENCH): $(BUILD)/tools/bench.o $(STATIC_LIB)
	$(CC) -o $@ $^ $(LDFLAGS) $(LDLIBS)

# Forward with Darknet's gemm / BLAS / grouped stand-ins, explaining cost as multiples of a
# forward, batched scoring, peak memory on the real models in ../shared (see tools/bench.c);
# appends to $(BUILD)/bench.csv. BENCH_ROUNDS: runs per median.
BENCH_ROUNDS ?= 9
bench: $(BENCH)
	@for m in imagenet/tiny coco/yolo-fastest-1.1 coco/yolo-fastest-1.1-xl; do \
	  nice $(BENCH) ../shared/models/$$m.cfg ../shared/models/$$m.weights $(BENCH_ROUNDS) $(BUILD)/bench.csv || exit 1; done

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
$(GEN): $(BUILD)/tools/gen_shapes.o $(BUILD)/tools/shapes.o $(STATIC_LIB)
	$(CC) -o $@ $^ $(LDFLAGS) $(LDLIBS)

# Retrains cfg/shapes-classifier.weights and cfg/shapes-detector.weights with Darknet (CPU).
models: $(GEN)
	tools/train-models.sh $(GEN) $(BUILD)/shapes-train

# Pointing game and energy-in-box of every method on generated images with known boxes.
BENCH_GT := $(BUILD)/benchmark-gt
BENCH_GT_N ?= 60
BENCH_GT_DETECTOR_N ?= 30
$(BENCH_GT): $(BUILD)/tools/benchmark_gt.o $(BUILD)/tools/shapes.o $(STATIC_LIB)
	$(CC) -o $@ $^ $(LDFLAGS) $(LDLIBS)

benchmark-gt: $(BENCH_GT)
	$(BENCH_GT) cfg/shapes-classifier.cfg cfg/shapes-classifier.weights $(BENCH_GT_N) 2
	@echo
	$(BENCH_GT) cfg/shapes-detector.cfg cfg/shapes-detector.weights $(BENCH_GT_DETECTOR_N) 4
# The detector, per detection: the lead's step once methods take per-box targets.

# Installs what is missing, builds, explains the embedded models on generated images: demo/*.png
demo: deps
	$(MAKE) all $(GEN)
	tools/demo.sh $(BUILD)
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
