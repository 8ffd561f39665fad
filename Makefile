# darknet-explain — build, test and demo.
#   make deps            install Debian's packages this project needs (idempotent)
#   make                 build/libdarknet-explain.{a,so} and build/darknet-explain
#   make test            build and run the Criterion suite (FILTER='speed/*': one suite)
#   make test SANITIZE=1 the same under AddressSanitizer + UBSan (separate build dir)

DARKNET_DIR ?= /usr/lib/darknet
DEB_PACKAGES := darknet libstb-dev libcriterion-dev libopenblas-dev python3-numpy dpkg-dev patch
DARKNET_DEB_PACKAGES := libopencv-dev
# Slurm's daemons and client (tools/slurm/, tests/test_slurm.c start a single-node Slurm) and GNU
# parallel (docs/cluster.md's way without a scheduler); without recommends (~3 MB, ~13 MB installed)
SLURM_DEB_PACKAGES := slurmctld slurmd slurm-client munge parallel

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
HEADERS := $(wildcard plugin/*.h plugin/*/*.h tests/*.h tools/*.h)

STATIC_LIB := $(BUILD)/libdarknet-explain.a
GEN := $(BUILD)/gen-shapes
SHARED_LIB := $(BUILD)/libdarknet-explain.so
CLI := $(BUILD)/darknet-explain
TEST_BIN := $(BUILD)/tests/run-tests

.PHONY: all deps deps-darknet deps-slurm test faults clean readme-figure bench bench-gradient bench-methods bench-perturbation darknet demo models benchmark-gt
all: $(STATIC_LIB) $(SHARED_LIB) $(CLI)

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

$(STATIC_LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(SHARED_LIB): $(LIB_OBJ)
	$(CC) -shared -o $@ $^ $(LDFLAGS) -Wl,--exclude-libs,libstb.a $(LDLIBS)

$(CLI): $(BUILD)/plugin/main.o $(STATIC_LIB)
	$(CC) -o $@ $^ $(LDFLAGS) $(LDLIBS)

$(TEST_BIN): $(TEST_OBJ) $(BUILD)/tools/shapes.o $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDFLAGS) -lcriterion $(LDLIBS)

# Tests find the CLI and the project root through the environment.
test: $(TEST_BIN) $(CLI) $(SHARED_LIB) $(GEN)
	DX_CLI=$(abspath $(CLI)) DX_ROOT=$(CURDIR) DX_CC="$(CC)" DX_CFLAGS="$(CPPFLAGS) $(CFLAGS)" \
	  DX_LDFLAGS="$(abspath $(STATIC_LIB)) $(LDFLAGS) $(LDLIBS)" \
	  ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	  $(TEST_BIN) -j2 --short-filename $(if $(FILTER),--filter '$(FILTER)')

# ./darknet with `darknet explain` (patches/ applied to Debian's darknet source package, or to
# DARKNET_SRC), with OpenCV as Debian's own build; DARKNET_FLAGS go to Darknet's own make, e.g.
# DARKNET_FLAGS="GPU=1 CUDNN=1" or "OPENCV=0".
DARKNET_SRC ?=
DARKNET_FLAGS ?=
darknet:
	tools/build-darknet.sh "$(DARKNET_SRC)" $(DARKNET_FLAGS)

clean:
	rm -rf build build-san darknet-src darknet

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

# The fault table of docs/faults.md: bad inputs and hostile conditions, what the program does.
faults: all $(GEN)
	tools/faults.sh $(BUILD)

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
