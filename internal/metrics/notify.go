package metrics

// Notification results, as ottr_notifications_total's result label names
// them.
const (
	NotificationSent    = "sent"
	NotificationRetried = "retried"
	NotificationFailed  = "failed"
)

// InitNotifications makes the notification counters of channels exist at
// 0 for every result, so the first failure is an increase Prometheus sees
// rather than a new series. events are the event kinds to set up.
func (m *Metrics) InitNotifications(channels, events []string) {
	for _, c := range channels {
		for _, e := range events {
			for _, r := range []string{NotificationSent, NotificationRetried, NotificationFailed} {
				m.notifications.WithLabelValues(c, e, r)
			}
		}
	}
}

// ObserveDelivery counts one attempt to deliver an event of kind event to
// channel: sent when err is nil; otherwise retried, or failed when final
// (no attempt follows). The notification queue's delivery jobs call it
// after every attempt.
func (m *Metrics) ObserveDelivery(channel, event string, err error, final bool) {
	result := NotificationSent
	switch {
	case err != nil && final:
		result = NotificationFailed
	case err != nil:
		result = NotificationRetried
	}
	m.notifications.WithLabelValues(channel, event, result).Inc()
}
