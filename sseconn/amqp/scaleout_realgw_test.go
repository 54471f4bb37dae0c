package amqp_test

import "testing"

// The scale-out scenarios again, with the reference gateway (generation 2,
// from SSEGATE_REFERENCE_GATEWAY_2) in AMQP mode against the test broker
// instead of gatewaytest: two or three replicas, each with its own bus,
// behind that one gateway, whose single CALLBACK_URL reaches them through
// the cluster's selector. Each test has its own exchanges (an environment
// prefix) and request ids, removed from the broker when it ends. Without
// SSEGATE_REFERENCE_GATEWAY_2 or SSEGATE_AMQP_URL the tests are skipped, and
// they fail under CI=true.

// reference selects the reference gateway for a scenario.
var reference = clusterConfig{reference: true}

// A task started on replica A, its stream connected through replica B: the
// whole lifecycle in order, then the stream ends.
func TestScaleOutRealGatewayTaskLifecycle(t *testing.T) {
	scaleTaskLifecycle(t, reference)
}

// The browser connects through B before the task has started, and after it
// has finished.
func TestScaleOutRealGatewayTaskConnectBeforeStartAndAfterEnd(t *testing.T) {
	scaleTaskConnectBeforeStartAndAfterEnd(t, reference)
}

// The browser reconnects mid-task through the other replica, and back:
// nothing lost, order kept.
func TestScaleOutRealGatewayTaskReconnectThroughOtherReplica(t *testing.T) {
	scaleTaskReconnectThroughOtherReplica(t, reference)
}

// Cancel on a replica that does not hold the task reaches its owner and
// ends the stream that the other replica serves.
func TestScaleOutRealGatewayTaskCancelThroughOtherReplica(t *testing.T) {
	scaleTaskCancelThroughOtherReplica(t, reference)
}

// Notify on A reaches, exactly once each, a browser whose connect B handled.
func TestScaleOutRealGatewayVersionNotifyAcrossReplicas(t *testing.T) {
	scaleVersionNotifyAcrossReplicas(t, reference)
}

// Events notified before the browser connects are flushed, in order and
// before ready, whichever replica notified them and whichever handles the
// connect; and again after a reload.
func TestScaleOutRealGatewayVersionPendingFlush(t *testing.T) {
	scaleVersionPendingFlush(t, reference)
}

// Broadcast on one of three replicas reaches every browser exactly once.
func TestScaleOutRealGatewayVersionBroadcastOnce(t *testing.T) {
	scaleVersionBroadcastOnce(t, reference)
}

// A stream for a task that no replica holds gets the not-found events and
// ends.
func TestScaleOutRealGatewayTaskUnknown(t *testing.T) {
	scaleTaskUnknown(t, reference)
}

// The owner killed mid-task: the browser, served by the other replica, is
// told within the lease bound.
func TestScaleOutRealGatewayTaskOwnerKilled(t *testing.T) {
	scaleTaskOwnerKilled(t, reference)
}

// 100 tasks over 3 replicas (20 with -short), each followed by a browser
// that reconnects at random through any replica: every final stream is a
// whole lifecycle whose progress never goes down.
func TestScaleOutRealGatewayTaskStress(t *testing.T) {
	tasks := 100
	if testing.Short() {
		tasks = 20
	}
	scaleTaskStress(t, reference, tasks)
}
