# dashboards/: the Grafana dashboard and Prometheus rules are data, checked
# by tests/dashboards/*.sh. What builds here is the /metrics sink's unit test:
# it links the sink's object directly (the collector's library may not hold
# it yet), and not libmicrohttpd, so the sink's HTTP tests load it the way
# the collector does.
METRICS_OBJ := $(OUT)/tools/xstate-watch/sinks/metrics.o

$(OUT)/tests/unit/test_metrics.o: XSW_CFLAGS += -I$(TOP)/tools/xstate-watch/sinks
$(OUT)/tests/unit/test_metrics: $(METRICS_OBJ)
$(OUT)/tests/unit/test_metrics: UNIT_LIBS += $(METRICS_OBJ)
