"""Prometheus metrics of every process, built on a registry passed in by ``main()``.

Names are in base units (seconds, bytes), counters end in ``_total``, and no label
carries a session id. Dashboards and alert rules in ``deploy/`` reference these
names; a test fails if they name something the code does not export.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Latency buckets (seconds) tuned for interactive speech: 10 ms .. 10 s.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
# Processing time of one step or model call: 0.1 ms .. 5 s.
STEP_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        p = "streamscribe_gateway_"
        self.connections = Gauge(p + "connections", "Open WebSocket connections, by protocol.", ["protocol"],
                                 registry=registry)
        self.sessions_active = Gauge(p + "sessions_active", "Pipeline sessions with a live client, by protocol.",
                                     ["protocol"], registry=registry)
        self.sessions = Counter(p + "sessions_total", "Pipeline sessions created (one per channel), by protocol.",
                                ["protocol"], registry=registry)
        self.sessions_refused = Counter(
            p + "sessions_refused_total", "Sessions refused, by reason.", ["reason"], registry=registry
        )
        self.audio_seconds = Counter(
            p + "audio_seconds_total", "Seconds of audio received from clients.", registry=registry
        )
        self.echo_gated_seconds = Counter(
            p + "echo_gated_seconds_total", "Seconds of a channel's audio silenced as the other party's echo on "
            "calls with a channel per party (summed over channels; --echo-gate-db).", registry=registry
        )
        self.frames_rejected = Counter(
            p + "frames_rejected_total", "Client frames rejected, by reason.", ["reason"], registry=registry
        )
        self.errors_sent = Counter(
            p + "errors_sent_total", "Error messages sent to clients, by code.", ["code"], registry=registry
        )
        self.paced_seconds = Counter(
            p + "paced_seconds_total",
            "Seconds connections waited before reading more audio, because their client ran too far "
            "ahead of real time.", registry=registry,
        )
        self.backlog_waits = Counter(
            p + "backlog_waits_total",
            "Times a session's audio waited for its first stage to work off a full input stream.",
            registry=registry,
        )
        self.partials = Counter(p + "partials_total", "Partial transcripts sent to clients.", registry=registry)
        self.finals = Counter(p + "finals_total", "Final transcripts sent to clients.", registry=registry)
        self.diarize_unlabelled = Counter(
            p + "diarize_unlabelled_total", "Finals of diarized live calls sent without speakers, by reason: "
            "timeout (the wait ran out), loading (the diarizer's model was not loaded within --diarize-load-wait), "
            "failed (the diarizer failed), audio_gone (the final's audio was no longer kept).", ["reason"],
            registry=registry)
        self.diarize_wait = Histogram(
            p + "diarize_wait_seconds", "Seconds a diarized live call's final waited for its speakers (answered "
            "in time), a wait for the diarizer's model to load included.",
            buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0), registry=registry)
        self.diarizer_load_seconds = Gauge(
            p + "diarizer_load_seconds", "Seconds the diarizer's process took from its start to its speaker model "
            "loaded, its latest start (0 until one loaded).", registry=registry)
        self.duplicate_finals = Counter(
            p + "duplicate_finals_total", "Finals suppressed because their utterance was already final.",
            registry=registry,
        )
        self.partials_dropped = Counter(
            p + "partials_dropped_total", "Partials dropped because a client read too slowly.", registry=registry
        )
        self.first_partial_latency = Histogram(
            p + "first_partial_latency_seconds",
            "From receiving the first audio of an utterance to sending its first partial.",
            buckets=LATENCY_BUCKETS, registry=registry,
        )
        self.live_workers = Gauge(p + "live_workers", "Workers with a live heartbeat, by stage.", ["stage"],
                                  registry=registry)
        self.redis_up = Gauge(p + "redis_up", "1 when the gateway's last Redis check succeeded.", registry=registry)
        self.redis_errors = Counter(p + "redis_errors_total", "Redis commands of the gateway that failed.",
                                    registry=registry)
        self.sessions_lost = Counter(
            p + "sessions_lost_total", "Sessions ended because their data vanished from Redis.", registry=registry
        )
        self.final_latency = Histogram(
            p + "speech_end_to_final_seconds",
            "From receiving the last speech audio of an utterance to sending its final.",
            buckets=LATENCY_BUCKETS, registry=registry,
        )
        # Followers, the transcript log, ss:finals and the finals webhook (gateway/outputs/follow.py,
        # gateway/outputs/transcript_log.py, gateway/outputs/webhook.py).
        self.followers = Gauge(p + "followers", "Open follower connections (/ws/follow/...).", registry=registry)
        self.follower_messages = Counter(
            p + "follower_messages_total", "Partials, finals and ends sent to followers.", registry=registry
        )
        self.log_entries = Counter(
            p + "transcript_log_entries_total", "Entries written to calls' transcript logs.", registry=registry
        )
        self.log_dropped = Counter(
            p + "transcript_log_dropped_total",
            "Partials not written to a call's transcript log because its writer fell behind.", registry=registry,
        )
        self.webhook_deliveries = Counter(
            p + "webhook_deliveries_total", "Finals handed to the finals webhook, by result "
            "(delivered, failed, dropped: its queue was full).", ["result"], registry=registry,
        )
        self.webhook_retries = Counter(
            p + "webhook_retries_total", "Finals webhook deliveries tried again after a failure.", registry=registry
        )
        # Call analytics (gateway/analytics, gateway/features/analytics.py), by tenant: the keys file names
        # the tenants, so the label is bounded; never a call id or a text. Ratios are rates of these
        # over analytics_call_seconds_total (deploy/grafana).
        self.analytics_call_seconds = Counter(
            p + "analytics_call_seconds_total", "Audio seconds of calls with analytics, counted when each ends, "
            "by tenant.", ["tenant"], registry=registry)
        self.analytics_talk_seconds = Counter(
            p + "analytics_talk_seconds_total", "Seconds in which a party of an analysed call spoke (each "
            "party's talk, summed), by tenant.", ["tenant"], registry=registry)
        self.analytics_non_talk_seconds = Counter(
            p + "analytics_non_talk_seconds_total", "Seconds of analysed calls in which nobody spoke, by tenant.",
            ["tenant"], registry=registry)
        self.analytics_overtalk_seconds = Counter(
            p + "analytics_overtalk_seconds_total", "Seconds of analysed calls in which two parties or more "
            "spoke at once, by tenant.", ["tenant"], registry=registry)
        self.analytics_interruptions = Counter(
            p + "analytics_interruptions_total", "Interruptions in analysed calls, by tenant.", ["tenant"],
            registry=registry)
        self.analytics_alerts = Counter(
            p + "analytics_alerts_total", "Live analytics alerts raised, by tenant and alert (dead_air, overtalk, "
            "fast, loud).", ["tenant", "alert"], registry=registry)
        self.analytics_phrases = Counter(
            p + "analytics_phrases_total", "Phrases of the tenant's or call's lists spotted in finals, by tenant.",
            ["tenant"], registry=registry)
        self.analytics_dropped = Counter(
            p + "analytics_dropped_total", "Results an analysed call's analytics did not take because its queue "
            "was full (the figures of the call then miss them; the results themselves were sent).",
            registry=registry)
        self.analytics_seconds = Counter(
            p + "analytics_seconds_total", "Seconds of the gateway's CPU spent on call analytics (talk figures, "
            "phrases, sentiment, summaries; loudness is counted with audio conversion).", registry=registry)
        # Pre-recorded requests (gateway/http/inflight.py).
        self.prerecorded_undelivered = Counter(
            p + "prerecorded_undelivered_total", "Pre-recorded results lost, by kind (response: a request still "
            "unfinished when the shutdown drain (--drain-timeout) ran out, answered 503; callback: cut by the "
            "drain before it was handed to Redis, refused by its receiver, out of retries, or stored longer "
            "than --prerecorded-callback-retention).", ["kind"], registry=registry,
        )
        # Pre-recorded callbacks delivered by the fleet (gateway/outputs/courier.py).
        self.prerecorded_callbacks_delivered = Counter(
            p + "prerecorded_callbacks_delivered_total", "Pre-recorded callbacks this gateway delivered (2xx), "
            "first attempts and those it took from Redis.", registry=registry,
        )
        self.prerecorded_callback_retries = Counter(
            p + "prerecorded_callback_retries_total", "Pre-recorded callback attempts of this gateway that "
            "failed and were scheduled again.", registry=registry,
        )
        self.prerecorded_callbacks_stored = Counter(
            p + "prerecorded_callbacks_stored_total", "Pre-recorded callbacks this gateway handed to the fleet "
            "(stored in Redis for any gateway to deliver) after a failed first attempt or at shutdown.",
            registry=registry,
        )
        self.prerecorded_callbacks_dropped = Counter(
            p + "prerecorded_callbacks_dropped_total", "Pre-recorded callbacks not kept in Redis, by reason (full: "
            "--prerecorded-callback-backlog reached, retried by their gateway alone; expired: stored longer than "
            "--prerecorded-callback-retention, lost).", ["reason"], registry=registry,
        )
        self.prerecorded_callbacks_pending = Gauge(
            p + "prerecorded_callbacks_pending", "Pre-recorded callbacks stored in Redis for the fleet to deliver, "
            "as of this gateway's last look.", registry=registry,
        )


class StageMetrics:
    """Metrics every stage worker exports, labelled by ``stage``."""

    def __init__(self, registry: CollectorRegistry, stage: str) -> None:
        p = "streamscribe_stage_"
        self.stage = stage
        label = {"stage": stage}

        def gauge(name: str, doc: str) -> Gauge:
            return Gauge(p + name, doc, ["stage"], registry=registry).labels(**label)

        def counter(name: str, doc: str) -> Counter:
            return Counter(p + name, doc, ["stage"], registry=registry).labels(**label)

        self.sessions_active = gauge("sessions_active", "Sessions this worker owns.")
        self.capacity = gauge("capacity_sessions", "Sessions this worker may own at once.")
        self.queue_lag = gauge(
            "queue_lag_seconds", "Age of the oldest unprocessed input record of this worker's sessions."
        )
        self.processing = Histogram(
            p + "processing_seconds",
            "Time of one processing step (one batch; a stage that processes recordings in steps of their own "
            "counts only the live sessions' steps).", ["stage"],
            buckets=STEP_BUCKETS, registry=registry,
        ).labels(**label)
        self.batch_size = Histogram(
            p + "batch_size", "Sessions handled in one processing step (as processing_seconds counts them).", ["stage"],
            buckets=BATCH_BUCKETS, registry=registry,
        ).labels(**label)
        self.records = counter("records_total", "Input records processed.")
        self.audio_seconds = counter("audio_seconds_total", "Seconds of input audio processed.")
        self.records_rejected = Counter(
            p + "records_rejected_total", "Malformed input records dead-lettered, by reason.",
            ["stage", "reason"], registry=registry,
        )
        self.claims = counter("sessions_claimed_total", "New sessions claimed from the control stream.")
        self.takeovers = counter("lease_takeovers_total", "Sessions taken over from a worker whose lease lapsed.")
        self.replayed_audio = counter("replayed_audio_seconds_total", "Seconds of audio replayed after a takeover.")
        self.fenced_rejects = counter(
            "fenced_writes_rejected_total", "Writes refused because this worker no longer held the lease."
        )
        self.leases_lost = counter(
            "leases_lost_total", "Sessions dropped because their lease had passed to another worker."
        )
        self.sequence_gaps = counter("sequence_gaps_total", "Gaps detected in an input sequence (lost records).")
        self.duplicates = counter("duplicates_skipped_total", "Input records skipped as already processed.")
        self.redis_errors = counter("redis_errors_total", "Redis commands that failed (connection lost, timeouts).")

    def reject(self, reason: str) -> None:
        self.records_rejected.labels(stage=self.stage, reason=reason).inc()


class VadMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        p = "streamscribe_vad_"
        self.model_batch = Histogram(
            p + "model_batch_size", "Frames in one batched Silero call.", buckets=BATCH_BUCKETS, registry=registry
        )
        self.model_seconds = Histogram(
            p + "model_seconds", "Time of one batched Silero call.", buckets=STEP_BUCKETS, registry=registry
        )
        self.utterances = Counter(p + "utterances_total", "Utterances segmented, by end reason.", ["reason"],
                                  registry=registry)
        self.speech_seconds = Counter(p + "speech_seconds_total", "Seconds of speech sent on to the ASR.",
                                      registry=registry)


class AsrMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        p = "streamscribe_asr_"
        self.decode_seconds = Histogram(
            p + "decode_seconds", "Time of one decode, by kind: partial, final (live calls) or batch (a recording's, "
            "its wait behind live decodes included).", ["kind"], buckets=STEP_BUCKETS, registry=registry
        )
        self.decoded_audio = Counter(p + "decoded_audio_seconds_total", "Seconds of audio fed to the engine.",
                                     registry=registry)
        self.tokens = Counter(p + "tokens_total", "Tokens (or words) the engine produced.", registry=registry)
        self.partials = Counter(p + "partials_total", "Partials emitted.", registry=registry)
        self.finals = Counter(p + "finals_total", "Finals emitted, by the language they were decoded in "
                              "(unknown: the engine did not say).", ["language"], registry=registry)
        self.no_speech = Counter(p + "no_speech_total", "Utterances that decoded to no words (no final).",
                                 registry=registry)
        self.language_settled = Counter(
            p + "language_settled_total", "Sessions naming no language whose language was settled on enough "
            "speech (settled) or changed by several long finals in a row (switched).", ["kind"], registry=registry)
        self.wrong_script = Counter(
            p + "wrong_script_total", "Decodes of a session naming no language written in another script than "
            "their language's, by kind: a partial (not sent) or a final (sent, logged).", ["kind"],
            registry=registry)
        self.loops = Counter(
            p + "loops_total",
            "Decodes in which the engine found a repetition loop, by kind (partial, final, batch) and outcome: "
            "recovered (decoded again without one) or truncated (the loop cut out: on a final, flagged truncated).",
            ["kind", "outcome"], registry=registry,
        )
        self.beam_fallbacks = Counter(
            p + "beam_fallbacks_total",
            "Live final decodes decoded again with beam search because the greedy decode looked poor (whisper), "
            "by the decode kept: beam or greedy.", ["kept"], registry=registry,
        )
        self.digit_redecodes = Counter(
            p + "digit_redecodes_total",
            "Finals of sessions that redact card numbers or SSNs, in a number passage and decoded without a number, decoded "
            "again with the digits prompt (whisper), by whether that decode was kept: true or false.", ["kept"],
            registry=registry,
        )
        self.lone_decodes = Counter(
            p + "lone_decodes_total",
            "Utterances of a recording's pack to which the pack's decode dealt no words, by outcome: words or none "
            "(decoded again alone: its final has words, or is empty and flagged no_words), or spanned (not decoded: "
            "a number the pack wrote beside it holds its digits).", ["outcome"], registry=registry,
        )
        self.decodes_in_flight = Gauge(p + "decodes_in_flight", "Decodes running in the engine.", registry=registry)
        self.speculative_decodes = Counter(
            p + "speculative_decodes_total",
            "Final decodes started at a pause, by outcome: used (the final) or wasted (speech resumed).",
            ["outcome"], registry=registry,
        )
        self.early_finals = Counter(
            p + "early_finals_total",
            "Finals sent when the decode started at a pause ended, before the endpoint, by kind: "
            "sentence (the text ended a sentence) or eager (the session asked for eager finals).",
            ["kind"], registry=registry,
        )
        self.reply_splits = Counter(
            p + "reply_splits_total",
            "Finals sent as two: a decode that began or ended with a short reply parted from the sentence beside "
            "it by a silence shorter than the VAD's pause.",
            registry=registry,
        )
        self.echoes = Counter(
            p + "echoes_total",
            "Decodes of the speech after an early final not taken because they wrote the speech before it "
            "again (its context), or more words than its audio holds; it was decoded again with less context.",
            registry=registry,
        )
        self.redactions = Counter(
            p + "redactions_total", "Entities redacted in finals, by entity (CREDIT_CARD, SSN, ...); never the text.",
            ["entity"], registry=registry,
        )
        self.redaction_hold_seconds = Histogram(
            p + "redaction_hold_seconds",
            "Time a final of a session with redaction waited for the next final before it went out "
            "(0 for those not held: it did not end in a number).",
            buckets=(0.0, 0.05, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0), registry=registry,
        )
        self.redaction_names_seconds = Histogram(
            p + "redaction_names_seconds",
            "Time the name model took over the transcripts of one write of a session with pii "
            "(the first one of a worker includes loading the model).",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0), registry=registry,
        )


class DenoiseMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        p = "streamscribe_denoise_"
        self.chunk_seconds = Histogram(
            p + "chunk_seconds", "Time to denoise one chunk.", buckets=STEP_BUCKETS, registry=registry
        )
        self.audio_seconds = Counter(p + "audio_seconds_total", "Seconds of audio denoised.", registry=registry)
        self.resumes = Counter(p + "resumes_total", "Denoiser streams re-warmed from a pre-roll, by reason.",
                               ["reason"], registry=registry)
        self.bypassed_seconds = Counter(
            p + "bypassed_seconds_total", "Seconds of audio passed through undenoised because the denoiser failed.",
            registry=registry,
        )
