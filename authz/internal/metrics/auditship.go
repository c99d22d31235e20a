package metrics

import "github.com/prometheus/client_golang/prometheus"

// AuditShipLag registers the audit shipping figures and returns what
// reports the lag: how many entries the sink is behind the chain's head,
// as last seen by the replica that ships. Call it once.
func (m *Metrics) AuditShipLag() func(entries int64) {
	lag := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "idvauth_audit_ship_lag_entries",
		Help: "Audit entries appended but not yet acknowledged by the off-host sink (from the replica that ships).",
	})
	m.reg.MustRegister(lag)
	return func(n int64) { lag.Set(float64(n)) }
}
