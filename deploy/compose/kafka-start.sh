#!/bin/bash
# Entry point of each compose broker: formats the node's storage once with the bootstrap SCRAM users (the
# broker's own and the admin's), then hands over to the image's own start script. No password is ever in
# argv: the format arguments go through an owner-only java @argfile, removed at once. The broker's own
# configuration reads its passwords from /run/cshub-secrets through Kafka's DirectoryConfigProvider.
set -euo pipefail
umask 077
secrets=/run/cshub-secrets
if [ ! -f "${KAFKA_LOG_DIRS}/meta.properties" ]; then
  cat > /tmp/format.properties <<PROPS
process.roles=${KAFKA_PROCESS_ROLES}
node.id=${KAFKA_NODE_ID}
controller.quorum.voters=${KAFKA_CONTROLLER_QUORUM_VOTERS}
controller.listener.names=${KAFKA_CONTROLLER_LISTENER_NAMES}
listeners=${KAFKA_LISTENERS}
advertised.listeners=${KAFKA_ADVERTISED_LISTENERS}
listener.security.protocol.map=${KAFKA_LISTENER_SECURITY_PROTOCOL_MAP}
inter.broker.listener.name=${KAFKA_INTER_BROKER_LISTENER_NAME}
sasl.mechanism.inter.broker.protocol=${KAFKA_SASL_MECHANISM_INTER_BROKER_PROTOCOL}
sasl.mechanism.controller.protocol=${KAFKA_SASL_MECHANISM_CONTROLLER_PROTOCOL}
log.dirs=${KAFKA_LOG_DIRS}
PROPS
  {
    printf '%s\n' -cp '"/opt/kafka/libs/*"' kafka.tools.StorageTool format --config /tmp/format.properties \
      "--cluster-id=${CLUSTER_ID}" --ignore-formatted
    for user in cshub-broker cshub-admin; do
      printf -- '--add-scram\n"SCRAM-SHA-512=[name=%s,password=%s]"\n' "$user" "$(cat "$secrets/$user.password")"
    done
  } > /tmp/format.args
  java @/tmp/format.args || { rm -f /tmp/format.args; exit 1; }
  rm -f /tmp/format.args /tmp/format.properties
fi
# For the health check: the admin's client settings, owner-only inside the container.
printf 'security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="cshub-admin" password="%s";\n' \
  "$(cat "$secrets/cshub-admin.password")" > /tmp/admin.properties
exec /etc/kafka/docker/run
