#!/usr/bin/env python3
"""Generate deploy/grafana/dashboards/streamscribe.json.

The dashboard is code so that its queries stay reviewable; edit this file, then run

    python deploy/grafana/build_dashboard.py

tests/unit/test_deploy.py fails when the committed JSON differs from what this script writes,
and when a query names a metric that common/metrics.py does not define.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "dashboards" / "streamscribe.json"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}  # provisioning/datasources/prometheus.yml
RI = "$__rate_interval"


class Layout:
    """Places panels left to right on Grafana's 24-column grid."""

    def __init__(self) -> None:
        self.panels: list[dict] = []
        self.x = 0
        self.y = 0
        self.row_h = 0
        self.next_id = 1

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def row(self, title: str) -> None:
        self._newline()
        self.panels.append({
            "type": "row", "title": title, "id": self._id(), "collapsed": False, "panels": [],
            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
        })
        self.y += 1

    def _newline(self) -> None:
        if self.x:
            self.y += self.row_h
            self.x = 0
            self.row_h = 0

    def add(self, panel: dict, w: int, h: int) -> None:
        if self.x + w > 24:
            self._newline()
        panel["id"] = self._id()
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.panels.append(panel)
        self.x += w
        self.row_h = max(self.row_h, h)


def target(expr: str, legend: str, ref: str) -> dict:
    return {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": ref, "range": True}


def targets(queries: list[tuple[str, str]]) -> list[dict]:
    return [target(e, legend, chr(ord("A") + i)) for i, (e, legend) in enumerate(queries)]


def timeseries(title: str, queries: list[tuple[str, str]], unit: str, description: str = "",
               bars: bool = False, min0: bool = True) -> dict:
    custom = {"drawStyle": "bars" if bars else "line", "lineWidth": 1, "fillOpacity": 10,
              "showPoints": "never", "spanNulls": False}
    defaults: dict = {"unit": unit, "custom": custom}
    if min0:
        defaults["min"] = 0
    return {
        "type": "timeseries", "title": title, "description": description, "datasource": DATASOURCE,
        "targets": targets(queries),
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull", "max"]},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
    }


def stat(title: str, expr: str, unit: str, description: str = "", thresholds: list | None = None,
         mappings: list | None = None, legend: str = "") -> dict:
    steps = thresholds or [{"color": "green", "value": None}]
    return {
        "type": "stat", "title": title, "description": description, "datasource": DATASOURCE,
        "targets": targets([(expr, legend)]),
        "fieldConfig": {"defaults": {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps},
                                     "mappings": mappings or []}, "overrides": []},
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "colorMode": "background", "graphMode": "area", "textMode": "value_and_name",
                    "justifyMode": "auto", "orientation": "auto"},
    }


def quantiles(metric: str, by: str = "", qs: tuple[float, ...] = (0.5, 0.9, 0.99), prefix: str = "") -> list:
    """histogram_quantile over a histogram's _bucket series, one query per quantile."""
    group = f"{by}, le" if by else "le"
    out = []
    for q in qs:
        legend = f"{prefix}p{int(q * 100)}" + (f" {{{{{by}}}}}" if by else "")
        out.append((f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket[{RI}])))", legend))
    return out


def mean(metric: str, by: str = "", legend: str = "mean") -> tuple[str, str]:
    grp = f"sum by ({by}) " if by else "sum "
    return (f"{grp}(rate({metric}_sum[{RI}])) / {grp}(rate({metric}_count[{RI}]))",
            legend + (f" {{{{{by}}}}}" if by else ""))


def build() -> dict:
    L = Layout()

    # ---------------------------------------------------------------- overview
    L.row("Overview")
    L.add(stat("Active sessions", "sum(streamscribe_gateway_sessions_active)", "short",
               "Sessions with a live client, over all gateways."), 4, 4)
    L.add(stat("Audio in (streams)", "sum(rate(streamscribe_gateway_audio_seconds_total[1m]))", "short",
               "Seconds of audio received per second = real-time streams being served."), 4, 4)
    L.add(stat("Speech end → final p99 (5m)",
               "histogram_quantile(0.99, sum by (le) (rate(streamscribe_gateway_speech_end_to_final_seconds_bucket[5m])))",
               "s", "Alert StreamscribeSpeechEndToFinalP99High fires above 1.5 s.",
               thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 1},
                           {"color": "red", "value": 1.5}]), 4, 4)
    L.add(stat("Max queue lag", "max(streamscribe_stage_queue_lag_seconds)", "s",
               "Oldest unprocessed input of any stage (the autoscaling signal).",
               thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 2},
                           {"color": "red", "value": 10}]), 4, 4)
    L.add(stat("Live workers", "count by (stage) (streamscribe_stage_capacity_sessions)", "short",
               "Worker processes per stage that Prometheus scraped.", legend="{{stage}}"), 4, 4)
    L.add(stat("Redis", 'min(redis_up{job="redis"})', "short",
               "redis_exporter's view of Redis (1 = reachable).",
               thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 1}],
               mappings=[{"type": "value", "options": {"0": {"text": "DOWN"}, "1": {"text": "UP"}}}]), 4, 4)

    # ---------------------------------------------------------------- traffic
    L.row("Traffic")
    L.add(timeseries("Connections and sessions", [
        ("sum(streamscribe_gateway_connections)", "WebSocket connections"),
        ("sum(streamscribe_gateway_sessions_active)", "active sessions"),
        ("sum by (stage) (streamscribe_stage_sessions_active)", "owned by {{stage}} workers"),
    ], "short", "Open connections and sessions at the gateways, and sessions each stage's workers own."), 8, 8)
    L.add(timeseries("Sessions started and refused", [
        (f"sum(rate(streamscribe_gateway_sessions_total[{RI}]))", "started"),
        (f"sum by (reason) (rate(streamscribe_gateway_sessions_refused_total[{RI}]))", "refused: {{reason}}"),
    ], "ops"), 8, 8)
    L.add(timeseries("Audio seconds per second", [
        (f"sum(rate(streamscribe_gateway_audio_seconds_total[{RI}]))", "received by gateways"),
        (f"sum by (stage) (rate(streamscribe_stage_audio_seconds_total[{RI}]))", "processed by {{stage}}"),
        (f"sum(rate(streamscribe_denoise_audio_seconds_total[{RI}]))", "denoised"),
        (f"sum(rate(streamscribe_gateway_echo_gated_seconds_total[{RI}]))", "silenced as echo"),
        (f"sum(rate(streamscribe_vad_speech_seconds_total[{RI}]))", "speech sent to ASR"),
    ], "short", "1.0 = one real-time stream. Silence never reaches the ASR, so its line is lower."), 8, 8)
    L.add(timeseries("Transcripts sent", [
        (f"sum(rate(streamscribe_gateway_partials_total[{RI}]))", "partials"),
        (f"sum(rate(streamscribe_gateway_finals_total[{RI}]))", "finals"),
        (f"sum(rate(streamscribe_gateway_duplicate_finals_total[{RI}]))", "duplicate finals suppressed"),
        (f"sum(rate(streamscribe_gateway_partials_dropped_total[{RI}]))", "partials dropped (slow client)"),
    ], "ops"), 12, 8)
    L.add(timeseries("Utterances", [
        (f"sum by (reason) (rate(streamscribe_vad_utterances_total[{RI}]))", "segmented: {{reason}}"),
        (f"sum by (language) (rate(streamscribe_asr_finals_total[{RI}]))", "ASR finals: {{language}}"),
        (f"sum(rate(streamscribe_asr_no_speech_total[{RI}]))", "ASR no speech (no final)"),
        (f"sum by (kind, outcome) (rate(streamscribe_asr_loops_total[{RI}]))", "repetition loops: {{kind}} {{outcome}}"),
    ], "ops"), 12, 8)

    # ---------------------------------------------------------------- latency
    L.row("Latency")
    L.add(timeseries("First partial latency",
                     quantiles("streamscribe_gateway_first_partial_latency_seconds"), "s",
                     "From the first audio of an utterance to its first partial at the gateway."), 12, 8)
    L.add(timeseries("Speech end → final latency",
                     quantiles("streamscribe_gateway_speech_end_to_final_seconds"), "s",
                     "From the last speech audio of an utterance to its final at the gateway."), 12, 8)

    # ---------------------------------------------------------------- pipeline
    L.row("Pipeline stages")
    L.add(timeseries("Queue lag per stage", [
        ("max by (stage) (streamscribe_stage_queue_lag_seconds)", "{{stage}} max"),
        ("avg by (stage) (streamscribe_stage_queue_lag_seconds)", "{{stage}} avg over workers"),
    ], "s", "Age of the oldest unprocessed input: the autoscaling signal. Alerts at 2 s and 10 s."), 12, 8)
    L.add(timeseries("Processing time per step",
                     quantiles("streamscribe_stage_processing_seconds", by="stage", qs=(0.5, 0.99)), "s",
                     "Time of one processing step (one batch) per stage."), 12, 8)
    L.add(timeseries("Sessions per step (batch size)",
                     quantiles("streamscribe_stage_batch_size", by="stage", qs=(0.5, 0.99))
                     + [mean("streamscribe_stage_batch_size", by="stage")], "short"), 12, 8)
    L.add(timeseries("Records processed", [
        (f"sum by (stage) (rate(streamscribe_stage_records_total[{RI}]))", "{{stage}}"),
    ], "ops"), 12, 8)

    # ---------------------------------------------------------------- workers
    L.row("Workers and capacity")
    L.add(timeseries("Live workers per stage", [
        ("count by (stage) (streamscribe_stage_capacity_sessions)", "{{stage}} workers"),
        ('sum by (job) (up{job=~"streamscribe-.*"})', "{{job}} targets up"),
    ], "short", "docker compose up --scale <stage>=N shows up here within a DNS refresh (10 s)."), 8, 8)
    L.add(timeseries("Owned sessions vs capacity", [
        ("sum by (stage) (streamscribe_stage_sessions_active)", "{{stage}} owned"),
        ("sum by (stage) (streamscribe_stage_capacity_sessions)", "{{stage}} capacity"),
    ], "short"), 8, 8)
    L.add(timeseries("Sessions claimed", [
        (f"sum by (stage) (rate(streamscribe_stage_sessions_claimed_total[{RI}]))", "{{stage}}"),
    ], "ops", "New sessions claimed from each stage's control stream."), 8, 8)

    # ---------------------------------------------------------------- failover
    L.row("Failover and fencing")
    L.add(timeseries("Lease takeovers", [
        (f"sum by (stage) (increase(streamscribe_stage_lease_takeovers_total[{RI}]))", "{{stage}}"),
    ], "short", "Sessions taken over from a worker whose lease lapsed.", bars=True), 6, 8)
    L.add(timeseries("Replayed audio", [
        (f"sum by (stage) (increase(streamscribe_stage_replayed_audio_seconds_total[{RI}]))", "{{stage}}"),
    ], "s", "Seconds of audio replayed from checkpoints after takeovers.", bars=True), 6, 8)
    L.add(timeseries("Fenced writes rejected", [
        (f"sum by (stage) (increase(streamscribe_stage_fenced_writes_rejected_total[{RI}]))", "{{stage}}"),
    ], "short", "Writes refused because the worker no longer held the lease.", bars=True), 6, 8)
    L.add(timeseries("Gaps, duplicates, Redis errors", [
        (f"sum by (stage) (increase(streamscribe_stage_sequence_gaps_total[{RI}]))", "sequence gaps {{stage}}"),
        (f"sum by (stage) (increase(streamscribe_stage_duplicates_skipped_total[{RI}]))",
         "duplicates skipped {{stage}}"),
        (f"sum by (stage) (increase(streamscribe_stage_redis_errors_total[{RI}]))", "Redis errors {{stage}}"),
    ], "short", bars=True), 6, 8)

    # ---------------------------------------------------------------- errors
    L.row("Errors")
    L.add(timeseries("Client frames rejected", [
        (f"sum by (reason) (rate(streamscribe_gateway_frames_rejected_total[{RI}]))", "{{reason}}"),
    ], "ops"), 8, 8)
    L.add(timeseries("Errors sent to clients", [
        (f"sum by (code) (rate(streamscribe_gateway_errors_sent_total[{RI}]))", "{{code}}"),
    ], "ops"), 8, 8)
    L.add(timeseries("Records dead-lettered", [
        (f"sum by (stage, reason) (rate(streamscribe_stage_records_rejected_total[{RI}]))", "{{stage}}: {{reason}}"),
    ], "ops", "Malformed input records counted, logged and dead-lettered."), 8, 8)

    # ---------------------------------------------------------------- engines
    L.row("Engines")
    L.add(timeseries("VAD frames per Silero call",
                     quantiles("streamscribe_vad_model_batch_size", qs=(0.5, 0.99))
                     + [mean("streamscribe_vad_model_batch_size")], "short",
                     "One batched model call per tick serves all sessions of a worker."), 8, 8)
    L.add(timeseries("VAD model call time",
                     quantiles("streamscribe_vad_model_seconds", qs=(0.5, 0.99)), "s"), 8, 8)
    L.add(timeseries("Denoise time per chunk",
                     quantiles("streamscribe_denoise_chunk_seconds", qs=(0.5, 0.99)), "s",
                     "DeepFilterNet3 time for one chunk (480-sample hops at 48 kHz inside)."), 8, 8)
    L.add(timeseries("ASR decode time",
                     quantiles("streamscribe_asr_decode_seconds", by="kind", qs=(0.5, 0.99)), "s",
                     "One decode of an utterance so far (partial) or the whole utterance (final)."), 8, 8)
    L.add(timeseries("ASR throughput", [
        (f"sum(rate(streamscribe_asr_decoded_audio_seconds_total[{RI}]))", "audio s/s decoded"),
        (f"sum(rate(streamscribe_asr_tokens_total[{RI}]))", "tokens/s"),
        ("sum(streamscribe_asr_decodes_in_flight)", "decodes in flight"),
    ], "short"), 8, 8)
    L.add(timeseries("ASR real-time factor", [
        (f"sum(rate(streamscribe_asr_decode_seconds_sum[{RI}])) / "
         f"sum(rate(streamscribe_asr_decoded_audio_seconds_total[{RI}]))", "decode seconds per audio second"),
    ], "short", "Below 1 the engine decodes faster than real time (re-decodes of partials included)."), 8, 8)

    L.row("Conversation analytics")
    G = "streamscribe_gateway_analytics"
    calls = f"sum by (tenant) (rate({G}_call_seconds_total[{RI}]))"
    L.add(timeseries("Talk and silence ratio by tenant", [
        (f"sum by (tenant) (rate({G}_talk_seconds_total[{RI}])) / {calls}", "{{tenant}} talk"),
        (f"sum by (tenant) (rate({G}_non_talk_seconds_total[{RI}])) / {calls}", "{{tenant}} non-talk"),
    ], "percentunit", "Of the audio of analysed calls that ended: each party's talk summed (two parties "
       "talking at once count twice), and the time nobody spoke."), 8, 8)
    L.add(timeseries("Overtalk and interruptions by tenant", [
        (f"sum by (tenant) (rate({G}_overtalk_seconds_total[{RI}])) / {calls}", "{{tenant}} overtalk ratio"),
        (f"sum by (tenant) (rate({G}_interruptions_total[{RI}])) / ({calls} / 60)",
         "{{tenant}} interruptions per call minute"),
    ], "short", "Overtalk: share of call time in which two parties or more spoke."), 8, 8)
    L.add(timeseries("Analytics alerts and phrases by tenant", [
        (f"sum by (tenant, alert) (rate({G}_alerts_total[{RI}])) * 60", "{{tenant}} {{alert}} /min"),
        (f"sum by (tenant) (rate({G}_phrases_total[{RI}])) * 60", "{{tenant}} phrases /min"),
    ], "short", "Live alerts (dead air, overtalk, fast, loud talk) and spotted phrases, per minute."), 8, 8)
    L.add(timeseries("Analytics CPU", [
        (f"sum(rate({G}_seconds_total[{RI}]))", "CPU s/s"),
        (f"sum(rate({G}_dropped_total[{RI}]))", "records dropped/s (queue full)"),
    ], "short", "Gateway CPU spent on call analytics, off the path of the finals."), 8, 8)

    return {
        "uid": "streamscribe-overview",
        "title": "streamscribe",
        "description": "Streaming speech recognition: traffic, latency, stages, workers, failover, errors, engines, "
                       "conversation analytics.",
        "tags": ["streamscribe"],
        "timezone": "browser",
        "editable": False,
        "graphTooltip": 1,
        "refresh": "10s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "templating": {"list": []},
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True,
            "hide": True, "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard",
        }]},
        "links": [],
        "panels": L.panels,
    }


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
