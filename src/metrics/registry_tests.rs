//! The registry: every metric has one row, names are unique, protocols and
//! display order are as reports expect.

use super::*;

#[test]
fn every_metric_has_one_row_and_names_are_unique() {
    for m in Metric::PER_REQUEST.iter().chain([&Metric::ScheduleLag]) {
        assert_eq!(def_of(m).metric, *m, "{m:?} has no row");
    }
    let mut names: Vec<&str> = METRICS.iter().map(|d| d.name).collect();
    names.extend(STAGE_METRICS.iter().map(|d| d.name));
    let count = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), count, "a name is used twice");
    assert_eq!(def_of(&Metric::Chunk(7)).name, "chunk");
}

#[test]
fn kinds_say_which_protocols_produce_what() {
    assert!(def_of(&Metric::Ttfa).kinds.has(Kind::HttpTts));
    assert!(!def_of(&Metric::Ttfa).kinds.has(Kind::HttpAsr));
    assert!(def_of(&Metric::Final).kinds.has(Kind::WsAsr));
    assert!(!def_of(&Metric::Final).kinds.has(Kind::HttpAsr));
    assert!(!def_of(&Metric::E2e).kinds.has(Kind::WsAgent));
    assert!(StageMetric::WerPooled.def().kinds.has(Kind::HttpAsr));
    assert!(!StageMetric::Stalled.def().kinds.has(Kind::WsAgent));
}

#[test]
fn display_order_puts_configured_chunks_after_ttfa() {
    let order = in_order(&[1, 4, 10]);
    assert_eq!(
        &order[..5],
        &[
            Metric::Ttfb,
            Metric::Ttfa,
            Metric::Chunk(1),
            Metric::Chunk(4),
            Metric::Chunk(10)
        ]
    );
    assert_eq!(order.last(), Some(&Metric::ScheduleLag));
    assert_eq!(order.len(), 48);
}

#[test]
fn the_slots_of_stage_statistics_are_the_registry_rows() {
    // Stage statistics keep one fixed slot per metric read from every
    // record: every row but the chunks, schedule lag and the judge's WER
    // (the judge answers after the record is written), none left out.
    let mut rows: Vec<Metric> = METRICS
        .iter()
        .map(|d| d.metric)
        .filter(|m| !matches!(m, Metric::Chunk(_) | Metric::ScheduleLag | Metric::JudgeWer))
        .collect();
    let mut slots = Metric::PER_REQUEST.to_vec();
    rows.sort();
    slots.sort();
    assert_eq!(rows, slots);
}
