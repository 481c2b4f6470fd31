use super::*;

#[test]
fn delay_jitters_and_backs_off() {
    let p = Duration::from_secs(100);
    for _ in 0..20 {
        let d = next_delay(p, 0);
        assert!(d >= Duration::from_secs(90) && d <= Duration::from_secs(110), "{d:?}");
    }
    assert!(next_delay(p, 2) >= Duration::from_secs(180));
    assert!(next_delay(p, 9) <= Duration::from_secs(440));
}
