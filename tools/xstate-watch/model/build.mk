# tools/xstate-watch/model: the pKVM scenario model (docs/pkvm-model.md).
#
#   LIBXSWMODEL   static library with the model core, its policies, the
#                 engine driver and the `model` command (xsw_model_main());
#                 the collector links it for `xstate-watch model ...`.
#   XSW_MODEL     standalone $(OUT)/tools/xstate-watch/xsw-model (same
#                 command), linked with the collector's engine library.
#   make model-doc   regenerate the matrix table in docs/pkvm-model.md.
LIBXSWMODEL_SRCS := $(sort $(wildcard $(TOP)/tools/xstate-watch/model/model*.c))
LIBXSWMODEL_OBJS := $(patsubst $(TOP)/%.c,$(OUT)/%.o,$(LIBXSWMODEL_SRCS))
LIBXSWMODEL := $(OUT)/libxswmodel.a
# The collector's engine and checks (tools/xstate-watch/build.mk builds it).
XSW_MODEL_ENGINE_LIB := $(OUT)/libxswengine.a

$(LIBXSWMODEL_OBJS): XSW_CFLAGS += -I$(TOP)/tools/xstate-watch

$(LIBXSWMODEL): $(LIBXSWMODEL_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

XSW_MODEL := $(OUT)/tools/xstate-watch/xsw-model
XSW_MODEL_MAIN_OBJ := $(OUT)/tools/xstate-watch/model/standalone/main.o

$(XSW_MODEL_MAIN_OBJ): XSW_CFLAGS += -I$(TOP)/tools/xstate-watch/model

$(XSW_MODEL): $(XSW_MODEL_MAIN_OBJ) $(LIBXSWMODEL) $(XSW_MODEL_ENGINE_LIB) $(LIBXSW)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(XSW_LDFLAGS) -o $@ $(XSW_MODEL_MAIN_OBJ) -Wl,--start-group \
		$(LIBXSWMODEL) $(XSW_MODEL_ENGINE_LIB) $(LIBXSW) -Wl,--end-group $(JANSSON_LIBS) -lm

ALL_TARGETS += $(LIBXSWMODEL)
UNIT_LIBS += $(LIBXSWMODEL)

# The engine-driving half (the command, the I5 tests) needs the collector's
# engine library; until tools/xstate-watch/build.mk provides it, only the
# model core is built and unit-tested. (The sorted include order puts that
# fragment before this one.)
ifneq ($(filter $(XSW_MODEL_ENGINE_LIB),$(UNIT_LIBS) $(ALL_TARGETS)),)
ALL_TARGETS += $(XSW_MODEL)
$(OUT)/tests/unit/test_pkvm_model.o: XSW_CFLAGS += -DXSW_MODEL_HAVE_ENGINE=1 \
	-I$(TOP)/tools/xstate-watch/model -I$(TOP)/tools/xstate-watch
else
$(OUT)/tests/unit/test_pkvm_model.o: XSW_CFLAGS += \
	-I$(TOP)/tools/xstate-watch/model -I$(TOP)/tools/xstate-watch
endif

# The matrix in docs/pkvm-model.md is the tool's output, never edited by hand.
XSW_MODEL_DOC_CPUS := $(sort $(wildcard $(TOP)/tests/fixtures/cpu/*.cpu))

.PHONY: model-doc
model-doc: $(XSW_MODEL)
	$(Q)$(TOP)/tools/xstate-watch/model/gen-doc.sh $(XSW_MODEL) $(TOP)/docs/pkvm-model.md \
		$(XSW_MODEL_DOC_CPUS)
