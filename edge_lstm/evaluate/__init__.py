"""Evaluation on labelled series: replay, scoring (NAB and incident metrics), reports and plots."""
