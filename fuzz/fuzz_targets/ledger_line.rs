#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data)
        && let Ok(e) = gantry_ledger::Entry::parse_line(s)
    {
        // One spelling per entry: whatever parses is exactly the line a writer would write.
        let line = e.to_line().expect("a parsed entry has a line");
        assert_eq!(line.trim_end_matches('\n'), s.strip_suffix('\n').unwrap_or(s));
    }
});
