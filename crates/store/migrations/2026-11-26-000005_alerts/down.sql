DROP TABLE alert_throttle;
