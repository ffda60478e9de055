"""Helpers the tests share: bundles and Keras models to build, a private Mosquitto, MQTT clients."""
