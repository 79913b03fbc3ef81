/**
 * Batch job templates the wire tests send through pushrun: the image-streaming guide's own job,
 * and a rich one that sets a member of every `oneof` a template can reach (an instance policy, a
 * boot disk from an image, a new and an existing attached disk, gcs, nfs and device volumes, a
 * script by path, a container, a barrier) beside machine type, SPOT, GPUs, environment, labels
 * and durations.
 */

/**
 * The job of Google's guide to Batch image streaming
 * (https://cloud.google.com/batch/docs/use-image-streaming), with `${IMAGE}` for the image.
 */
export const GUIDE_JOB = {
  taskGroups: [
    {
      taskCount: '1',
      taskCountPerNode: '1',
      taskSpec: {
        runnables: [
          {container: {imageUri: '${IMAGE}', enableImageStreaming: true}},
        ],
      },
    },
  ],
  allocationPolicy: {instances: [{policy: {machineType: 'e2-standard-4'}}]},
  logsPolicy: {destination: 'CLOUD_LOGGING'},
};

/** A template with something in every corner a Batch job has; streaming must be `off` or `auto`. */
export const RICH_JOB = {
  priority: '10',
  taskGroups: [
    {
      taskCount: '4',
      parallelism: '2',
      taskCountPerNode: '1',
      schedulingPolicy: 'IN_ORDER',
      requireHostsFile: true,
      taskEnvironments: [{variables: {SHARD: '0'}}, {variables: {SHARD: '1'}}],
      taskSpec: {
        runnables: [
          {script: {path: '/mnt/disks/share/setup.sh'}, displayName: 'setup'},
          {
            container: {
              commands: ['train', '--tag=${IMAGE_TAG}'],
              entrypoint: '/usr/bin/python3',
              volumes: ['/mnt/disks/data:/data:ro'],
            },
            timeout: '5400s',
            labels: {step: 'train'},
            environment: {variables: {STEP: 'train'}},
          },
          {barrier: {name: 'trained'}},
          {
            script: {text: 'echo done for ${MAPPING}'},
            alwaysRun: true,
            ignoreExitStatus: true,
          },
        ],
        computeResource: {
          cpuMilli: '8000',
          memoryMib: '30720',
          bootDiskMib: '102400',
        },
        maxRunDuration: '7200.5s',
        maxRetryCount: 3,
        lifecyclePolicies: [
          {action: 'RETRY_TASK', actionCondition: {exitCodes: [137, 143]}},
        ],
        environment: {
          variables: {MODE: 'full'},
          secretVariables: {
            TOKEN: 'projects/p/secrets/token/versions/latest',
          },
        },
        volumes: [
          {gcs: {remotePath: 'my-bucket/data'}, mountPath: '/mnt/disks/data'},
          {
            nfs: {server: '10.0.0.2', remotePath: '/share'},
            mountPath: '/mnt/disks/share',
            mountOptions: ['ro'],
          },
          {deviceName: 'scratch', mountPath: '/mnt/disks/scratch'},
        ],
      },
    },
  ],
  allocationPolicy: {
    location: {allowedLocations: ['regions/us-central1']},
    instances: [
      {
        policy: {
          machineType: 'a2-highgpu-1g',
          provisioningModel: 'SPOT',
          minCpuPlatform: 'Intel Cascade Lake',
          accelerators: [
            {type: 'nvidia-tesla-a100', count: '1', driverVersion: '535'},
          ],
          bootDisk: {image: 'batch-debian', sizeGb: '100', type: 'pd-ssd'},
          disks: [
            {
              newDisk: {type: 'local-ssd', sizeGb: '375'},
              deviceName: 'scratch',
            },
            {existingDisk: 'projects/p/zones/us-central1-a/disks/ref-data'},
          ],
        },
        installGpuDrivers: true,
      },
    ],
    labels: {cost: 'ml'},
    network: {
      networkInterfaces: [
        {
          network: 'global/networks/default',
          subnetwork: 'regions/us-central1/subnetworks/default',
          noExternalIpAddress: true,
        },
      ],
    },
    tags: ['batch'],
  },
  labels: {team: 'ml'},
  logsPolicy: {
    destination: 'CLOUD_LOGGING',
    cloudLoggingOption: {useGenericTaskMonitoredResource: true},
  },
  notifications: [
    {
      pubsubTopic: 'projects/p/topics/audit',
      message: {type: 'TASK_STATE_CHANGED', newTaskState: 'FAILED'},
    },
  ],
};
